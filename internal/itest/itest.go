// Package itest finds the real Kafka and ClickHouse that integration tests
// talk to. Tests skip when the services are not configured, except under
// CI=true, where a skipped integration test is a failure.
package itest

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

const howTo = "start them with `deploy/local/services up` and export the JEVONS_TEST_* variables it prints (JEVONS_TEST_KAFKA=127.0.0.1:9092 JEVONS_TEST_CLICKHOUSE=127.0.0.1:9000 ...)"

// Kafka returns the broker address from JEVONS_TEST_KAFKA.
func Kafka(t testing.TB) string {
	addr := need(t, "JEVONS_TEST_KAFKA")
	Lock(t, false)
	return addr
}

// Alertmanager returns Alertmanager's base URL from JEVONS_TEST_ALERTMANAGER.
func Alertmanager(t testing.TB) string {
	addr := need(t, "JEVONS_TEST_ALERTMANAGER")
	Lock(t, false)
	return addr
}

// ClickHouse returns the native-protocol address from JEVONS_TEST_CLICKHOUSE.
func ClickHouse(t testing.TB) string {
	addr := need(t, "JEVONS_TEST_CLICKHOUSE")
	Lock(t, false)
	return addr
}

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

var lock struct {
	sync.Mutex
	f    *os.File
	mode int // 0 none, syscall.LOCK_SH or syscall.LOCK_EX
	refs int
}

// Lock serialises tests that share the real services across test binaries
// (go test runs packages in parallel): a test that stops a service takes
// the lock exclusively, the others share it. Within a process the lock is
// re-entrant; it is released when the last holder's test ends.
func Lock(t testing.TB, exclusive bool) {
	t.Helper()
	lock.Lock()
	defer lock.Unlock()
	if lock.f == nil {
		f, err := os.OpenFile(filepath.Join(os.TempDir(), "jevons-itest.lock"), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			t.Fatal(err)
		}
		lock.f = f
	}
	want := syscall.LOCK_SH
	if exclusive {
		want = syscall.LOCK_EX
	}
	if lock.mode != syscall.LOCK_EX && lock.mode != want {
		if err := syscall.Flock(int(lock.f.Fd()), want); err != nil {
			t.Fatal(err)
		}
		lock.mode = want
	}
	lock.refs++
	t.Cleanup(func() {
		lock.Lock()
		defer lock.Unlock()
		if lock.refs--; lock.refs == 0 {
			_ = syscall.Flock(int(lock.f.Fd()), syscall.LOCK_UN)
			lock.mode = 0
		}
	})
}
