package alert_test

import (
	"context"
	"fmt"
	"io"
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

	"github.com/segmentio/kafka-go"

	"github.com/jevonsdev/jevons/internal/itest"
	"github.com/jevonsdev/jevons/internal/topics"
	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/schemas"
)

// The stream tests run the real jevons binary, so that SIGKILL is SIGKILL.
var jevonsBin string

func TestMain(m *testing.M) { itest.MainWithJevons(m, "../cmd/jevons", &jevonsBin) }

// streamEnv is a topic, group and database on the real services.
type streamEnv struct {
	*chEnv
	kafka, topic, group string
	w                   *kafka.Writer
	cat                 *pricing.Catalog
	logs                string
}

func newStream(t testing.TB, partitions int) *streamEnv {
	t.Helper()
	e := &streamEnv{chEnv: newCH(t), kafka: itest.Kafka(t), logs: t.TempDir()}
	e.topic, e.group = "jevons."+e.db, e.db
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := topics.Ensure(ctx, nil, []string{e.kafka}, e.topic, partitions, 1); err != nil {
		t.Fatal(err)
	}
	e.w = &kafka.Writer{Addr: kafka.TCP(e.kafka), Topic: e.topic, Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, Transport: &kafka.Transport{}}
	t.Cleanup(func() { e.w.Close() })
	cat, err := pricing.Load()
	if err != nil {
		t.Fatal(err)
	}
	e.cat = cat
	return e
}

// event is one request of a task, priced the way the aggregator prices it.
func (e *streamEnv) event(t testing.TB, tenant, task string, i int, done bool) (schemas.Event, int64) {
	t.Helper()
	ev := schemas.Event{EventID: fmt.Sprintf("%s-%s-%d", tenant, task, i), Time: time.Now().UTC().Truncate(time.Millisecond), Tenant: tenant, TaskID: task,
		TaskType: "agent-loop", TaskDone: done, App: "coder", Provider: "openai", Model: "gpt-4o", Operation: "chat", Status: "ok"}
	ev.Usage.InputTokens, ev.Usage.OutputTokens = 10_000, 1_000
	c, _, err := e.cat.CostPair(pricing.Usage{Input: 10_000, Output: 1_000}, "openai", "gpt-4o", ev.Time, time.Time{})
	if err != nil || !c.Priced {
		t.Fatalf("price: %v %+v", err, c)
	}
	return ev, c.CostNanos
}

// produce sends events keyed as emit keys them and returns when acked.
func (e *streamEnv) produce(t testing.TB, evs ...schemas.Event) {
	t.Helper()
	msgs := make([]kafka.Message, len(evs))
	for i, ev := range evs {
		b := schemas.AppendJSON(nil, &ev)
		msgs[i] = kafka.Message{Key: []byte(ev.Tenant + "/" + ev.TaskID), Value: b, Time: ev.Time}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

// aggProc is one `jevons aggregate --rules` process.
type aggProc struct {
	cmd  *exec.Cmd
	http string
	log  string
}

func (e *streamEnv) startAggregator(t testing.TB, rules string, extra ...string) *aggProc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	a := &aggProc{http: addr, log: filepath.Join(e.logs, fmt.Sprintf("aggregate-%d.log", time.Now().UnixNano()))}
	args := append([]string{"aggregate", "--brokers", e.kafka, "--topic", e.topic, "--group", e.group, "--clickhouse", e.cfg.Addr,
		"--database", e.db, "--http", addr, "--session-timeout", "6s", "--rules", rules}, extra...)
	a.cmd = exec.Command(jevonsBin, args...)
	logf, err := os.Create(a.log)
	if err != nil {
		t.Fatal(err)
	}
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if a.cmd.ProcessState == nil {
			_ = a.cmd.Process.Signal(syscall.SIGTERM)
			_ = a.cmd.Wait()
		}
		logf.Close()
		if t.Failed() {
			out, _ := os.ReadFile(a.log)
			if len(out) > 6000 {
				out = out[len(out)-6000:]
			}
			t.Logf("aggregator log %s:\n%s", a.log, out)
		}
	})
	return a
}

func (a *aggProc) kill9() {
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	_ = a.cmd.Wait()
}

// waitReady waits until the aggregator joined its consumer group.
func (a *aggProc) waitReady(t testing.TB) {
	t.Helper()
	waitFor(t, 60*time.Second, "the aggregator to be ready", func() bool {
		resp, err := http.Get("http://" + a.http + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// lag sums the aggregator's consumer lag gauges from /metrics.
func (a *aggProc) lag(t testing.TB) float64 {
	resp, err := http.Get("http://" + a.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, "jevons_aggregate_consumer_lag{"); ok {
			if _, v, ok := strings.Cut(rest, "} "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				sum += f
			}
		}
	}
	return sum
}
