package aggregate_test

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
	"github.com/jevonsdev/jevons/internal/procstat"
	"github.com/jevonsdev/jevons/internal/progress"
	"github.com/jevonsdev/jevons/internal/topics"
	"github.com/jevonsdev/jevons/internal/verify"
	"github.com/jevonsdev/jevons/sink"
)

// The integration tests run the real jevons binary against the real broker
// and ClickHouse, as an operator would, so that kill -9 means kill -9.
var jevonsBin string

func TestMain(m *testing.M) { itest.MainWithJevons(m, "../cmd/jevons", &jevonsBin) }

// env is one test's topic, group and database on the real services.
type env struct {
	t                *testing.T
	kafka, ch        string
	topic, group, db string
	conn             driver.Conn
	logs             string
}

func newEnv(t *testing.T, partitions int, exclusive bool, topicConfig ...kafka.ConfigEntry) *env {
	t.Helper()
	if exclusive {
		itest.Lock(t, true)
	}
	e := &env{t: t, kafka: itest.Kafka(t), ch: itest.ClickHouse(t), logs: t.TempDir()}
	name := fmt.Sprintf("it_%s_%d", strings.ToLower(strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())), time.Now().UnixNano()%1e9)
	e.topic, e.group, e.db = "jevons."+name, name, name
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := topics.Ensure(ctx, nil, []string{e.kafka}, e.topic, partitions, 1, append(topics.EventTopicConfig(), topicConfig...)...); err != nil {
		t.Fatal(err)
	}
	cfg := sink.DefaultConfig()
	cfg.Addr = e.ch
	conn, err := sink.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.conn = conn
	t.Cleanup(func() {
		if !t.Failed() {
			_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+e.db)
		}
		conn.Close()
	})
	return e
}

// loadgen runs `jevons loadgen` and returns its truth.
func (e *env) loadgen(args ...string) *loadgen.Truth {
	e.t.Helper()
	path := filepath.Join(e.logs, fmt.Sprintf("truth-%d.json", time.Now().UnixNano()))
	out, err := exec.Command(jevonsBin, append([]string{"loadgen", "--brokers", e.kafka, "--topic", e.topic, "--truth", path}, args...)...).CombinedOutput()
	if err != nil {
		e.t.Fatalf("loadgen: %v\n%s", err, out)
	}
	truth, err := loadgen.ReadTruth(path)
	if err != nil {
		e.t.Fatal(err)
	}
	return truth
}

// loadgenAsync starts loadgen in the background; wait returns its truth.
func (e *env) loadgenAsync(args ...string) (wait func() *loadgen.Truth) {
	path := filepath.Join(e.logs, fmt.Sprintf("truth-%d.json", time.Now().UnixNano()))
	cmd := exec.Command(jevonsBin, append([]string{"loadgen", "--brokers", e.kafka, "--topic", e.topic, "--truth", path}, args...)...)
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
	rss  *procstat.PeakRSS
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
	args := append([]string{"aggregate", "--brokers", e.kafka, "--topic", e.topic, "--group", e.group,
		"--clickhouse", e.ch, "--database", e.db, "--http", addr, "--session-timeout", "6s", "--log-level", "info"}, extra...)
	a.cmd = exec.Command(jevonsBin, args...)
	logf, err := os.Create(a.log)
	if err != nil {
		e.t.Fatal(err)
	}
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	if err := a.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	a.rss = procstat.WatchPeakRSS(a.cmd.Process.Pid, 100*time.Millisecond)
	e.t.Cleanup(func() {
		a.rss.Stop()
		if a.cmd.ProcessState == nil {
			_ = a.cmd.Process.Kill()
			_ = a.cmd.Wait()
		}
		logf.Close()
		if e.t.Failed() {
			out, _ := os.ReadFile(a.log)
			e.t.Logf("aggregator log %s (last 4 KiB):\n%s", a.log, tail(out, 4096))
		}
	})
	return a
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// kill9 kills the process without warning, as a crash would.
func (a *aggregator) kill9() {
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	_ = a.cmd.Wait()
}

// stop sends SIGTERM and requires a clean exit within the shutdown timeout;
// it returns the process's peak RSS in bytes.
func (a *aggregator) stop() int64 {
	a.e.t.Helper()
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- a.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			a.e.t.Fatalf("aggregator exit after SIGTERM: %v", err)
		}
	case <-time.After(45 * time.Second):
		_ = a.cmd.Process.Kill()
		a.e.t.Fatal("aggregator did not exit within 45s of SIGTERM")
	}
	// Not the rusage of wait4: it carries this (larger) test process's
	// high-water mark into the child's (see internal/procstat).
	a.rss.Stop()
	return a.rss.Bytes()
}

// outcomes reads the outcome counters from /metrics.
func (a *aggregator) outcomes() map[string]int64 {
	a.e.t.Helper()
	resp, err := http.Get("http://" + a.http + "/metrics")
	if err != nil {
		a.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		const prefix = `jevons_aggregate_messages_total{outcome="`
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			name, val, _ := strings.Cut(rest, `"} `)
			f, _ := strconv.ParseFloat(val, 64)
			out[name] = int64(f)
		}
	}
	return out
}

// waitCaughtUp waits until every message on the topic is inside a
// checkpointed flush.
func (e *env) waitCaughtUp(timeout time.Duration) {
	e.t.Helper()
	ctx := context.Background()
	ends, err := progress.EndOffsets(ctx, nil, []string{e.kafka}, e.topic)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := progress.WaitCaughtUp(ctx, e.conn, e.db, e.group, e.topic, ends, timeout); err != nil {
		e.t.Fatal(err)
	}
}

// verify requires the views to equal the truth exactly.
func (e *env) verify(truth *loadgen.Truth) {
	e.t.Helper()
	rep, err := verify.Compare(context.Background(), e.conn, e.db, truth)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(rep.Mismatches) > 0 {
		e.t.Fatalf("views differ from the truth (%d events):\n%s", truth.Events, strings.Join(rep.Mismatches, "\n"))
	}
	if rep.Requests != truth.Events || rep.Daily != truth.Events || rep.Monthly != truth.Events || rep.Tasks != len(truth.Tasks) {
		e.t.Fatalf("views hold %d requests (usage_daily %d, usage_monthly %d) and %d tasks, truth %d and %d",
			rep.Requests, rep.Daily, rep.Monthly, rep.Tasks, truth.Events, len(truth.Tasks))
	}
}

// dlqMessages counts the messages in the dead-letter topic.
func (e *env) dlqMessages() int64 {
	e.t.Helper()
	ends, err := progress.EndOffsets(context.Background(), nil, []string{e.kafka}, e.topic+".dlq")
	if err != nil {
		e.t.Fatal(err)
	}
	var n int64
	for _, end := range ends {
		n += end
	}
	return n
}

// dlqReasons reads every dead letter's reason header.
func (e *env) dlqReasons() []string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ends, err := progress.EndOffsets(ctx, nil, []string{e.kafka}, e.topic+".dlq")
	if err != nil {
		e.t.Fatal(err)
	}
	var reasons []string
	for p, end := range ends {
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{e.kafka}, Topic: e.topic + ".dlq", Partition: p, MaxWait: 100 * time.Millisecond})
		for off := int64(0); off < end; {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				e.t.Fatal(err)
			}
			off = m.Offset + 1
			for _, h := range m.Headers {
				if h.Key == "jevons-reason" {
					reasons = append(reasons, string(h.Value))
				}
			}
		}
		r.Close()
	}
	return reasons
}

// reconnect reopens the ClickHouse connection after a server restart.
func (e *env) reconnect() {
	e.t.Helper()
	cfg := sink.DefaultConfig()
	cfg.Addr = e.ch
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := sink.Open(ctx, cfg)
		cancel()
		if err == nil {
			e.conn.Close()
			e.conn = conn
			return
		}
		if i == 60 {
			e.t.Fatal(err)
		}
		time.Sleep(time.Second)
	}
}

func merge(a, b *loadgen.Truth) *loadgen.Truth {
	a.Merge(b)
	return a
}
