package clustertest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/jevonsdev/jevons/ingest/loadgen"
	"github.com/jevonsdev/jevons/internal/itest"
	"github.com/jevonsdev/jevons/internal/progress"
	"github.com/jevonsdev/jevons/internal/topics"
	"github.com/jevonsdev/jevons/internal/verify"
	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/sink"
)

// The tests run the real jevons binary, so that kill -9 means kill -9.
var jevonsBin string

func TestMain(m *testing.M) { itest.MainWithJevons(m, "../../cmd/jevons", &jevonsBin) }

// env is one test's topic, group and clustered database.
type env struct {
	t                *testing.T // the running (sub)test, for failures
	root             *testing.T // the test that owns the processes, for cleanups
	c                itest.ClusterServices
	topic, group, db string
	conn             driver.Conn
	logs             string
}

func newEnv(t *testing.T, partitions int) *env {
	t.Helper()
	e := &env{t: t, root: t, c: itest.Cluster(t), logs: t.TempDir()}
	name := fmt.Sprintf("ct_%s_%d", strings.ToLower(strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())), time.Now().UnixNano()%1e9)
	e.topic, e.group, e.db = "jevons."+name, name, name
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Replication factor 3 and min.insync.replicas 2: the broker defaults
	// of deploy/local/cluster, asked for explicitly.
	cfg := append(topics.EventTopicConfig(), kafka.ConfigEntry{ConfigName: "min.insync.replicas", ConfigValue: "2"})
	if err := topics.Ensure(ctx, nil, e.c.Kafka, e.topic, partitions, 3, cfg...); err != nil {
		t.Fatal(err)
	}
	e.conn = e.open(ctx)
	t.Cleanup(func() {
		if !t.Failed() {
			_ = e.conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+e.db+" ON CLUSTER "+e.c.Name)
		}
		e.conn.Close()
	})
	return e
}

func (e *env) chConfig() sink.Config {
	cfg := sink.DefaultConfig()
	cfg.Addr = strings.Join(e.c.ClickHouse, ",")
	cfg.Database = e.db
	cfg.Cluster = e.c.Name
	return cfg
}

func (e *env) open(ctx context.Context) driver.Conn {
	e.t.Helper()
	conn, err := sink.Open(ctx, e.chConfig())
	if err != nil {
		e.t.Fatal(err)
	}
	return conn
}

// jevons runs one jevons command to its end.
func (e *env) jevons(args ...string) string {
	e.t.Helper()
	out, err := exec.Command(jevonsBin, args...).CombinedOutput()
	if err != nil {
		e.t.Fatalf("jevons %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// migrate creates the clustered schema, as a deployment's migration job
// does before the aggregators start.
func (e *env) migrate() string {
	return e.jevons("migrate", "--clickhouse", strings.Join(e.c.ClickHouse, ","), "--cluster", e.c.Name, "--database", e.db, "--log-level", "warn")
}

// loadgenAsync starts loadgen in the background; wait returns its truth.
func (e *env) loadgenAsync(args ...string) (wait func() *loadgen.Truth) {
	path := filepath.Join(e.logs, fmt.Sprintf("truth-%d.json", time.Now().UnixNano()))
	cmd := exec.Command(jevonsBin, append([]string{"loadgen", "--brokers", strings.Join(e.c.Kafka, ","), "--topic", e.topic, "--truth", path}, args...)...)
	logf, _ := os.Create(path + ".log")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	return func() *loadgen.Truth {
		e.t.Helper()
		err := cmd.Wait()
		logf.Close()
		if err != nil {
			out, _ := os.ReadFile(path + ".log")
			e.t.Fatalf("loadgen: %v\n%s", err, out)
		}
		truth, err := loadgen.ReadTruth(path)
		if err != nil {
			e.t.Fatal(err)
		}
		return truth
	}
}

// aggregator is one `jevons aggregate` process.
type aggregator struct {
	e    *env
	cmd  *exec.Cmd
	http string
	log  string
}

func (e *env) start(extra ...string) *aggregator {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	a := &aggregator{e: e, http: addr, log: filepath.Join(e.logs, fmt.Sprintf("aggregate-%d.log", time.Now().UnixNano()))}
	args := append([]string{"aggregate", "--brokers", strings.Join(e.c.Kafka, ","), "--topic", e.topic, "--group", e.group,
		"--clickhouse", strings.Join(e.c.ClickHouse, ","), "--cluster", e.c.Name, "--database", e.db,
		"--http", addr, "--session-timeout", "6s", "--log-level", "info"}, extra...)
	a.cmd = exec.Command(jevonsBin, args...)
	logf, err := os.Create(a.log)
	if err != nil {
		e.t.Fatal(err)
	}
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	if err := a.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	// The test that owns the environment ends the process: an aggregator
	// started in one subtest runs on through the next.
	e.root.Cleanup(func() {
		if a.cmd.ProcessState == nil {
			_ = a.cmd.Process.Kill()
			_ = a.cmd.Wait()
		}
		logf.Close()
		if e.root.Failed() {
			out, _ := os.ReadFile(a.log)
			if len(out) > 1500 {
				out = out[len(out)-1500:]
			}
			e.root.Logf("aggregator log %s (tail):\n%s", a.log, out)
		}
	})
	return a
}

func (a *aggregator) kill9() {
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	_ = a.cmd.Wait()
}

func (a *aggregator) alive() bool { return a.cmd.ProcessState == nil }

// stop sends SIGTERM and requires a clean exit.
func (a *aggregator) stop() {
	a.e.t.Helper()
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- a.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			a.e.t.Fatalf("aggregator exit after SIGTERM: %v", err)
		}
	case <-time.After(60 * time.Second):
		_ = a.cmd.Process.Kill()
		a.e.t.Fatal("aggregator did not exit within 60s of SIGTERM")
	}
}

// metrics reads the aggregator's counters from /metrics: the message
// outcomes by name, and clickhouse_errors for failed insert attempts.
func (a *aggregator) metrics() map[string]int64 {
	out := map[string]int64{}
	resp, err := http.Get("http://" + a.http + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, `jevons_aggregate_messages_total{outcome="`); ok {
			name, val, _ := strings.Cut(rest, `"} `)
			f, _ := strconv.ParseFloat(val, 64)
			out[name] = int64(f)
		}
		if rest, ok := strings.CutPrefix(line, "jevons_aggregate_clickhouse_errors_total "); ok {
			f, _ := strconv.ParseFloat(rest, 64)
			out["clickhouse_errors"] = int64(f)
		}
	}
	return out
}

// waitCaughtUp waits until every message on the topic is inside a
// checkpointed flush: the lag is 0. The end offsets must account for the
// produced messages first: a broker just back from a SIGSTOP may still
// answer as the leader it was, with the end offsets of before the stop,
// and the lag would read 0 while the new leaders' messages are unread.
func (e *env) waitCaughtUp(timeout time.Duration, produced int64) {
	e.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	var ends map[int]int64
	for {
		var err error
		ends, err = progress.EndOffsets(ctx, nil, e.c.Kafka, e.topic)
		sum := int64(0)
		for _, o := range ends {
			sum += o
		}
		if err == nil && sum >= produced {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the topic's end offsets add up to %d (error: %v), want the %d messages produced", sum, err, produced)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := progress.WaitCaughtUp(ctx, e.conn, e.db, e.group, e.topic, ends, timeout); err != nil {
		e.t.Fatal(err)
	}
}

// verify requires the views to equal the truth exactly, as `jevons verify`.
func (e *env) verify(truth *loadgen.Truth) {
	e.t.Helper()
	rep, err := verify.Compare(context.Background(), e.conn, e.db, truth)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(rep.Mismatches) > 0 {
		e.t.Fatalf("views differ from the truth (%d events):\n%s", truth.Events, strings.Join(rep.Mismatches, "\n"))
	}
	if rep.Requests != truth.Events || rep.Daily != truth.Events || rep.Tasks != len(truth.Tasks) {
		e.t.Fatalf("views hold %d requests (usage_daily %d) and %d tasks, truth %d and %d", rep.Requests, rep.Daily, rep.Tasks, truth.Events, len(truth.Tasks))
	}
}

// dlqExact requires the DLQ to hold every malformed message of the topic
// exactly once, and at least the bad messages loadgen sent. A producer that
// retries through a broker's failover may write a message twice (at two
// offsets): each copy is a message of the topic and is dead-lettered once.
func (e *env) dlqExact(sent int64) {
	e.t.Helper()
	bad := e.scan(e.topic, func(m kafka.Message) (string, bool) {
		var ev schemas.Event
		var d schemas.Decoder
		return fmt.Sprintf("%d/%d", m.Partition, m.Offset), d.Decode(m.Value, &ev) != nil
	})
	dead := e.scan(e.topic+".dlq", func(m kafka.Message) (string, bool) {
		var part, src string
		for _, h := range m.Headers {
			switch h.Key {
			case "jevons-src-partition":
				part = string(h.Value)
			case "jevons-src-offset":
				src = string(h.Value)
			}
		}
		return part + "/" + src, true
	})
	for k, n := range dead {
		if n != 1 {
			e.t.Fatalf("dead letter %s written %d times", k, n)
		}
		if bad[k] == 0 {
			e.t.Fatalf("dead letter %s is not a malformed message of the topic", k)
		}
	}
	if len(dead) != len(bad) || int64(len(bad)) < sent {
		e.t.Fatalf("DLQ holds %d distinct dead letters; the topic holds %d malformed messages, loadgen sent %d", len(dead), len(bad), sent)
	}
}

// scan reads a topic from the start to its end offsets and counts the keys
// that keep returns for the messages it selects.
func (e *env) scan(topic string, keep func(kafka.Message) (string, bool)) map[string]int {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ends, err := progress.EndOffsets(ctx, nil, e.c.Kafka, topic)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int{}
	for p, end := range ends {
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: e.c.Kafka, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
		for off := int64(0); off < end; {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				e.t.Fatalf("read %s/%d: %v", topic, p, err)
			}
			off = m.Offset + 1
			if k, ok := keep(m); ok {
				out[k]++
			}
		}
		r.Close()
	}
	return out
}

// clusterCmd runs deploy/local/cluster with the test's cluster directory.
func (e *env) clusterCmd(args ...string) {
	e.t.Helper()
	cmd := exec.Command("../../deploy/local/cluster", args...)
	cmd.Env = append(os.Environ(), "JEVONS_CLUSTER_DIR="+e.c.Dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("deploy/local/cluster %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// signal sends sig to a cluster node's process.
func (e *env) signal(node string, sig syscall.Signal) {
	e.t.Helper()
	raw, err := os.ReadFile(filepath.Join(e.c.Dir, node, "pid"))
	if err != nil {
		e.t.Fatalf("%s pid: %v", node, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		e.t.Fatalf("%s pid: %v", node, err)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		e.t.Fatalf("signal %v to %s: %v", sig, node, err)
	}
}
