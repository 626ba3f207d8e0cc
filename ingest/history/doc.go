// Package history loads past usage into Jevons through the same exact
// pipeline as live traffic: each past request becomes a schema-v1 event on
// the event topic, keyed like live events, with the Kafka message timestamp
// set to the event's own time, so the aggregator's correction horizon (which
// is measured from the message timestamp) accepts it and prices it at the
// price in force on that day.
//
// Event ids are derived from the input (the file's own ids for NDJSON, a
// hash of the bucket for provider exports), and a ledger in ClickHouse
// (imported_events) records every event sent once Kafka acknowledged it, so
// importing the same history again sends nothing. A crash between the
// acknowledgement and the record re-sends at most one batch on the next
// run, which the aggregator counts once while it is within its dedup
// horizon. Every bad line is an error naming its line number; nothing is
// skipped silently.
//
// Kafka deletes messages by their timestamp: history older than the topic's
// retention.ms is deleted once its segment rolls, so run the aggregator while
// importing (or raise retention for the import).
package history
