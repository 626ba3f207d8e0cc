// Package secure owns how Jevons authenticates to Kafka and ClickHouse and
// encrypts those connections: SASL/SCRAM and TLS for Kafka (a kafka-go
// Dialer or Transport built in one place, so that every reader, writer and
// admin client of a command connects the same way) and TLS for ClickHouse's
// native protocol. Passwords are Secret values, which print as "[redacted]"
// whichever way a log line or a config dump formats them.
//
// It must not read flags or the environment (cmd/jevons does), and it must
// not open connections itself: it only describes them.
package secure
