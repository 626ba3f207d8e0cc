package alert_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/aggregate"
	"github.com/jevonsdev/jevons/alert"
)

// A task's total spans its task windows: an earlier window's partial
// stored in task_rollup (written before this owner started) plus the
// current one the stream hands over. The owner loads the stored partials
// when it starts, so the rule judges the exact total.
func TestRunawayTotalsAddStoredEarlierWindowsToTheCurrentOne(t *testing.T) {
	e := newCH(t)
	t.Setenv("JEVONS_TEST_WEBHOOK_SECRET", "win-secret")
	hook := newReceiver(t, "win-secret")
	set, err := alert.Load(writeRules(t, fmt.Sprintf(`channels:
  hook: {type: webhook, url: %q, secret_env: JEVONS_TEST_WEBHOOK_SECRET}
rules:
  - name: long-task
    kind: runaway_task
    channels: [hook]
    runaway: {requests: 6}
`, hook.URL)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	w0 := now.Truncate(time.Hour).Add(-time.Hour)
	w1 := now.Truncate(time.Hour)
	ctx := context.Background()
	b, err := e.conn.PrepareBatch(ctx, "INSERT INTO "+e.db+".task_rollup (src_partition, tenant, task_id, window_start, task_type, app, min_time, max_time, requests, input_tokens, output_tokens, cost_nanos, models, done, version, written_at)")
	if err != nil {
		t.Fatal(err)
	}
	// the earlier window: 5 requests, and an older state of it that FINAL drops
	for _, v := range []struct{ req, ver uint64 }{{3, 7}, {5, 10}} {
		if err := b.Append(uint32(3), "acme", "t", w0, "agent", "coder", w0, w0.Add(50*time.Minute), v.req, v.req*100, v.req*10, int64(v.req)*1e7,
			[]string{"gpt-4o"}, uint8(0), v.ver, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	m := alert.NewMetrics(nil)
	d, err := alert.NewDispatcher(alert.DefaultDispatchConfig(), set, alert.NewStore(e.conn, e.db, nil), m, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = d.Run(dctx) }()
	r := alert.NewRunaway(alert.RunawayConfig{Group: "g"}, set, d, e.conn, e.db, m, zap.NewNop(), nil)
	obs := func(req uint64) {
		r.ObserveTask(&aggregate.TaskObservation{Partition: 3, Owner: 1, Offset: int64(100 + req), Time: w1.UnixMilli() + int64(req)*1000,
			Tenant: "acme", TaskID: "t", TaskType: "agent", App: "coder", Model: "gpt-4o-mini", Window: w1.UnixMilli(), CostNanos: 1e7,
			Partial: aggregate.TaskPartial{Requests: req, Tokens: req * 110, CostNanos: int64(req) * 1e7, MinTime: w1.Unix(), MaxTime: w1.Unix() + int64(req),
				Models: []string{"gpt-4o-mini"}, Version: int64(100 + req)}})
	}
	obs(1) // total 6: not above 6
	time.Sleep(1500 * time.Millisecond)
	if n := len(hook.all()); n != 0 {
		t.Fatalf("fired at a total of 6: %d notifications", n)
	}
	obs(2) // total 7
	waitFor(t, 10*time.Second, "the firing", func() bool { return len(hook.all()) == 1 })
	f := hook.all()[0]
	if f.Figures["requests"] != 7.0 || f.Figures["first_seen"] != w0.Format(time.RFC3339) {
		t.Fatalf("figures %v (want 7 requests over both windows, first seen at %v)", f.Figures, w0)
	}
	if ms, _ := f.Figures["models"].([]any); len(ms) != 2 {
		t.Fatalf("models %v (want both windows' models)", f.Figures["models"])
	}
}
