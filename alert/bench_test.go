package alert_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/aggregate"
	"github.com/jevonsdev/jevons/alert"
	"github.com/jevonsdev/jevons/internal/progress"
	"github.com/jevonsdev/jevons/schemas"
)

// BenchmarkRunawayDetectionLatency measures, on the real broker and
// ClickHouse, the time from producing a runaway task's crossing event to
// the webhook receiving its notification, while `jevons loadgen` keeps a
// background load on the same topic (JEVONS_BENCH_RATE events/s from four
// in-process producers, default 60,000; JEVONS_BENCH_SAMPLES runaway tasks, default 40). Every background
// event goes through the stream evaluator too (an unscoped rule with a
// limit nobody reaches). It prints the median and p99.
//
//	go test -run '^$' -bench RunawayDetectionLatency -benchtime 1x ./alert/
func BenchmarkRunawayDetectionLatency(b *testing.B) {
	rate := envInt("JEVONS_BENCH_RATE", 60_000)
	samples := envInt("JEVONS_BENCH_SAMPLES", 40)
	e := newStream(b, 4)
	b.Setenv("JEVONS_TEST_WEBHOOK_SECRET", "bench-secret")
	hook := newReceiver(b, "bench-secret")
	rules := writeRules(b, fmt.Sprintf(`channels:
  hook: {type: webhook, url: %q, secret_env: JEVONS_TEST_WEBHOOK_SECRET}
rules:
  - name: bench-runaway
    kind: runaway_task
    scope: {tenant: bench-runaway}
    channels: [hook]
    runaway: {cost: 0.3}
  - name: everyone
    kind: runaway_task
    channels: [hook]
    runaway: {cost: 1000000}
`, hook.URL))
	agg := e.startAggregator(b, rules)
	agg.waitReady(b)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bgDone := make(chan struct{})
	go func() {
		defer close(bgDone)
		const producers = 4
		var wg sync.WaitGroup
		for p := range producers {
			wg.Add(1)
			go func() { defer wg.Done(); backgroundLoad(ctx, b, e, rate/producers, p) }()
		}
		wg.Wait()
	}()
	defer func() { cancel(); <-bgDone }()
	time.Sleep(5 * time.Second) // warm up: the aggregator is consuming the background load

	offsets := func() int64 {
		ends, err := progress.EndOffsets(context.Background(), nil, []string{e.kafka}, e.topic)
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		for _, v := range ends {
			n += v
		}
		return n
	}
	startOff, start := offsets(), time.Now()
	var lat []time.Duration
	var lags []float64
	b.ResetTimer()
	for i := range samples {
		task := fmt.Sprintf("r%d", i)
		var evs []schemas.Event
		var total int64
		for j := 0; ; j++ {
			ev, cost := e.event(b, "bench-runaway", task, j, false)
			evs = append(evs, ev)
			total += cost
			if float64(total) > 0.3e9 {
				break
			}
		}
		e.produce(b, evs[:len(evs)-1]...)
		before := len(hook.all())
		lags = append(lags, agg.lag(b))
		crossed := time.Now()
		e.produce(b, evs[len(evs)-1])
		waitFor(b, 120*time.Second, "the runaway notification of "+task, func() bool { return len(hook.all()) > before })
		hook.mu.Lock()
		got := hook.at[before]
		hook.mu.Unlock()
		lat = append(lat, got.Sub(crossed))
		b.Logf("sample %d: %v (consumer lag %.0f events)", i, got.Sub(crossed), lags[len(lags)-1])
		time.Sleep(200 * time.Millisecond)
	}
	b.StopTimer()
	bg := float64(offsets()-startOff) / time.Since(start).Seconds()
	slices.Sort(lat)
	med, p99 := lat[len(lat)/2], lat[min(len(lat)-1, int(float64(len(lat))*0.99))]
	b.ReportMetric(float64(med.Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(bg, "background-events/s")
	slices.Sort(lags)
	b.ReportMetric(lags[len(lags)/2], "median-lag-events")
	fmt.Printf("runaway detection latency (crossing event produced -> webhook received), %d samples, background %.0f events/s: median %v, p99 %v, max %v; aggregator consumer lag when the crossing event was produced: median %.0f events\n",
		len(lat), bg, med, p99, lat[len(lat)-1], lags[len(lags)/2])
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// backgroundLoad produces rate events/s of distinct events over 500
// running tasks, in large batches, until ctx ends.
func backgroundLoad(ctx context.Context, b *testing.B, e *streamEnv, rate, producer int) {
	w := &kafka.Writer{Addr: kafka.TCP(e.kafka), Topic: e.topic, Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireOne,
		BatchSize: 5000, BatchBytes: 32 << 20, BatchTimeout: 5 * time.Millisecond, Transport: &kafka.Transport{}}
	defer w.Close()
	const chunk = 5000
	msgs := make([]kafka.Message, chunk)
	var buf []byte
	seq := 0
	tick := time.NewTicker(time.Duration(float64(time.Second) * chunk / float64(rate)))
	defer tick.Stop()
	for ctx.Err() == nil {
		now := time.Now().UTC()
		buf = buf[:0]
		offs := make([]int, chunk+1)
		for i := range msgs {
			seq++
			ev := schemas.Event{EventID: "bg-" + strconv.Itoa(producer) + "-" + strconv.Itoa(seq), Time: now, Tenant: "bg-" + strconv.Itoa(seq%50), TaskID: "task-" + strconv.Itoa(producer) + "-" + strconv.Itoa(seq%500),
				TaskType: "agent-run", App: "bench", Provider: "openai", Model: "gpt-4o-mini", Operation: "chat", Status: "ok"}
			ev.Usage.InputTokens, ev.Usage.OutputTokens = 1200, 300
			buf = schemas.AppendJSON(buf, &ev)
			offs[i+1] = len(buf)
			msgs[i] = kafka.Message{Key: []byte(ev.Tenant + "/" + ev.TaskID), Time: now}
		}
		for i := range msgs {
			msgs[i].Value = buf[offs[i]:offs[i+1]]
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil && ctx.Err() == nil {
			b.Logf("background load: %v", err)
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// BenchmarkObserveTask is the stream evaluator's cost per event on the
// partition goroutine: 500 running tasks, two rules (one limit, one rate),
// no notification.
func BenchmarkObserveTask(b *testing.B) {
	e := newCH(b)
	set, err := alert.Load(writeRules(b, `channels:
  hook: {type: webhook, url: "http://127.0.0.1:9/"}
rules:
  - name: limit
    kind: runaway_task
    channels: [hook]
    runaway: {cost: 1000000}
  - name: rate
    kind: runaway_task
    scope: {task_type: "agent-*"}
    channels: [hook]
    runaway: {rate: 1000000, rate_window: 1m}
`))
	if err != nil {
		b.Fatal(err)
	}
	m := alert.NewMetrics(nil)
	d, err := alert.NewDispatcher(alert.DefaultDispatchConfig(), set, alert.NewStore(e.conn, e.db, nil), m, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	r := alert.NewRunaway(alert.RunawayConfig{Group: "g"}, set, d, e.conn, e.db, m, zap.NewNop(), nil)
	t0 := time.Now().UnixMilli()
	ids := make([]string, 500)
	for i := range ids {
		ids[i] = "task-" + strconv.Itoa(i)
	}
	models := []string{"gpt-4o-mini"}
	o := &aggregate.TaskObservation{Partition: 0, Owner: 1, Tenant: "acme", TaskType: "agent-run", App: "bench", Model: "gpt-4o-mini", Window: t0}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		o.Offset, o.Time, o.TaskID, o.CostNanos = int64(i), t0+int64(i/10), ids[i%len(ids)], 1000
		n := uint64(i/len(ids) + 1)
		o.Partial = aggregate.TaskPartial{Requests: n, Tokens: n * 1500, CostNanos: int64(n) * 1000, MinTime: t0 / 1000, MaxTime: t0 / 1000, Models: models, Version: int64(i)}
		r.ObserveTask(o)
	}
}
