package itest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Secured describes the secured endpoints of the local services
// (deploy/local/services): Kafka's SASL_SSL (SCRAM) and SSL listeners,
// ClickHouse's TLS native port, the CA that signs their certificates and
// the files holding the users and passwords.
type Secured struct {
	KafkaSASLSSL string // host:port, SCRAM over TLS
	KafkaSSL     string // host:port, TLS without SASL
	ClickHouse   string // host:port, the native protocol over TLS
	CAFile       string // PEM CA of the servers' certificates

	KafkaUser, ClickHouseUser                 string
	KafkaPasswordFile, ClickHousePasswordFile string
}

// Secure returns the secured endpoints from JEVONS_TEST_KAFKA_SASL_SSL,
// JEVONS_TEST_KAFKA_SSL, JEVONS_TEST_CLICKHOUSE_SECURE and
// JEVONS_TEST_SECRETS (the directory `deploy/local/services up` prints).
func Secure(t testing.TB) Secured {
	t.Helper()
	s := Secured{
		KafkaSASLSSL: need(t, "JEVONS_TEST_KAFKA_SASL_SSL"),
		KafkaSSL:     need(t, "JEVONS_TEST_KAFKA_SSL"),
		ClickHouse:   need(t, "JEVONS_TEST_CLICKHOUSE_SECURE"),
	}
	dir := need(t, "JEVONS_TEST_SECRETS")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("JEVONS_TEST_SECRETS: %v", err)
		}
		return strings.TrimSpace(string(b))
	}
	s.CAFile = filepath.Join(dir, "ca.pem")
	s.KafkaUser, s.ClickHouseUser = read("kafka-sasl-user"), read("clickhouse-user")
	s.KafkaPasswordFile, s.ClickHousePasswordFile = filepath.Join(dir, "kafka-sasl-password"), filepath.Join(dir, "clickhouse-password")
	Lock(t, false)
	return s
}

// Password reads a password file of s.
func (s Secured) Password(t testing.TB, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
