package aggregate_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/jevonsdev/jevons/schemas"
)

// metric sums every series of a metric on /metrics (counters, gauges).
func (a *aggregator) metric(name string) float64 {
	a.e.t.Helper()
	resp, err := http.Get("http://" + a.http + "/metrics")
	if err != nil {
		a.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			a.e.t.Fatalf("metric line %q: %v", line, err)
		}
		sum += f
	}
	return sum
}

// maxMetric returns the largest series of a metric.
func (a *aggregator) maxMetric(name string) float64 {
	a.e.t.Helper()
	resp, err := http.Get("http://" + a.http + "/metrics")
	if err != nil {
		a.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	best := -1.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+"{") {
			f, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			best = max(best, f)
		}
	}
	return best
}

// write produces messages to the env's topic directly, message times as given.
func (e *env) write(msgs ...kafka.Message) {
	e.t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(e.kafka), Topic: e.topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		Transport: &kafka.Transport{DialTimeout: 10 * time.Second}}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		e.t.Fatalf("write %d messages: %v", len(msgs), err)
	}
}

// A producer a day ahead, and one 50 minutes ahead (inside Kafka's default
// one-hour bound on producer timestamps), before normal traffic: the broker
// rejects both, so the partition's clock does not jump, no normal event
// takes the late path and the duplicate set stays bounded by the traffic.
func TestSkewedProducerDoesNotMoveTheClock(t *testing.T) {
	e := newEnv(t, 2, false)
	now := time.Now().UTC()
	w := &kafka.Writer{Addr: kafka.TCP(e.kafka), Topic: e.topic, RequiredAcks: kafka.RequireAll, MaxAttempts: 1,
		Transport: &kafka.Transport{DialTimeout: 10 * time.Second}}
	defer w.Close()
	for i, ahead := range []time.Duration{24 * time.Hour, 50 * time.Minute} {
		ev := schemas.Event{EventID: fmt.Sprintf("skewed-%d", i), Time: now.Add(ahead), Tenant: "skewed", Provider: "openai", Model: "gpt-4o",
			Usage: schemas.Usage{InputTokens: 10, OutputTokens: 1}}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := w.WriteMessages(ctx, kafka.Message{Value: schemas.AppendJSON(nil, &ev), Time: ev.Time})
		cancel()
		if err == nil || !strings.Contains(err.Error(), "Invalid Timestamp") && !strings.Contains(err.Error(), "timestamp") {
			t.Fatalf("a message %v ahead: write error %v, want the broker to reject its timestamp", ahead, err)
		}
	}
	truth := e.loadgen("--events", "20000", "--seed", "91")
	a := e.start()
	e.waitCaughtUp(2 * time.Minute)
	e.verify(truth)
	out := a.outcomes()
	if out["late_corrected"] != 0 || out["dead_lettered"] != 0 || out["aggregated"] != truth.Events {
		t.Fatalf("outcomes %v: want every one of %d events aggregated on time", out, truth.Events)
	}
	if clock := a.maxMetric("jevons_aggregate_event_clock_seconds"); clock > float64(time.Now().Add(10*time.Minute).Unix()) || clock < float64(now.Add(-time.Hour).Unix()) {
		t.Fatalf("event clock %s, wall clock %s", time.Unix(int64(clock), 0).UTC(), now)
	}
	if n := a.metric("jevons_aggregate_dedup_entries"); n > float64(truth.Events) {
		t.Fatalf("duplicate set holds %.0f entries for %d events", n, truth.Events)
	}
	if allowance := a.metric("jevons_aggregate_producer_clock_allowance_seconds"); allowance != 300 {
		t.Fatalf("producer clock allowance %v s, want the topic's 300", allowance)
	}
	a.stop()
}
