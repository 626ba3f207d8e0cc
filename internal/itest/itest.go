// Package itest finds the real Kafka and ClickHouse that integration tests
// talk to. Tests skip when the services are not configured, except under
// CI=true, where a skipped integration test is a failure.
package itest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
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

// ClusterServices are the local cluster's addresses, from the
// JEVONS_TEST_CLUSTER_* lines that `deploy/local/cluster up` prints.
type ClusterServices struct {
	Kafka      []string // the three brokers
	ClickHouse []string // the four servers, shard 1 replicas then shard 2's
	Name       string   // the ClickHouse cluster (remote_servers) name
	Dir        string   // the cluster's state directory (pid files)
}

const clusterHowTo = "start it with `deploy/local/cluster up` and export the JEVONS_TEST_CLUSTER_* lines it prints"

// Cluster returns the local cluster, and takes the lock exclusively: the
// cluster tests kill its nodes and load the machine.
func Cluster(t testing.TB) ClusterServices {
	t.Helper()
	var c ClusterServices
	var missing []string
	for env, dst := range map[string]*string{"JEVONS_TEST_CLUSTER_NAME": &c.Name, "JEVONS_TEST_CLUSTER_DIR": &c.Dir} {
		if *dst = os.Getenv(env); *dst == "" {
			missing = append(missing, env)
		}
	}
	for env, dst := range map[string]*[]string{"JEVONS_TEST_CLUSTER_KAFKA": &c.Kafka, "JEVONS_TEST_CLUSTER_CLICKHOUSE": &c.ClickHouse} {
		if v := os.Getenv(env); v != "" {
			*dst = strings.Split(v, ",")
		} else {
			missing = append(missing, env)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not set under CI=true: the cluster tests must run; %s", strings.Join(missing, ", "), clusterHowTo)
		}
		t.Skipf("%s not set: cluster test skipped; %s", strings.Join(missing, ", "), clusterHowTo)
	}
	if len(c.Kafka) != 3 || len(c.ClickHouse) != 4 {
		t.Fatalf("want 3 brokers and 4 ClickHouse servers (2 shards x 2 replicas), got %v and %v", c.Kafka, c.ClickHouse)
	}
	Lock(t, true)
	return c
}

// MainWithJevons is a TestMain for tests that run the real jevons binary,
// so that kill -9 means kill -9: it builds the command in cmdDir (relative
// to the test's package) into a temporary directory, sets *bin to its
// path, runs the tests and exits with their code.
func MainWithJevons(m *testing.M, cmdDir string, bin *string) {
	os.Exit(mainWithJevons(m, cmdDir, bin))
}

func mainWithJevons(m *testing.M, cmdDir string, bin *string) int {
	dir, err := os.MkdirTemp("", "jevons-itest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	*bin = filepath.Join(dir, "jevons")
	build := exec.Command("go", "build", "-o", *bin, cmdDir)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build jevons:", err)
		return 1
	}
	return m.Run()
}
