// Package itest finds the real Kafka and ClickHouse that integration tests
// talk to. Tests skip when the services are not configured, except under
// CI=true, where a skipped integration test is a failure.
package itest

import (
	"os"
	"testing"
)

const howTo = "start them with `deploy/local/services up` and export JEVONS_TEST_KAFKA=127.0.0.1:9092 JEVONS_TEST_CLICKHOUSE=127.0.0.1:9000"

// Kafka returns the broker address from JEVONS_TEST_KAFKA.
func Kafka(t testing.TB) string { return need(t, "JEVONS_TEST_KAFKA") }

// ClickHouse returns the native-protocol address from JEVONS_TEST_CLICKHOUSE.
func ClickHouse(t testing.TB) string { return need(t, "JEVONS_TEST_CLICKHOUSE") }

func need(t testing.TB, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v != "" {
		return v
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set under CI=true: integration tests must run; %s", env, howTo)
	}
	t.Skipf("%s not set: integration test skipped; %s", env, howTo)
	return ""
}
