package alert_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/aggregate"
	"github.com/jevonsdev/jevons/alert"
	"github.com/jevonsdev/jevons/alert/notify"
)

// A spend-rate rule fires when USD per minute over the rate window exceeds
// the limit and resolves when it falls; a limit rule resolves when its
// task goes idle (wall clock, injected).
func TestRunawayRateFiresAndResolvesAndIdleTasksResolve(t *testing.T) {
	e := newCH(t)
	t.Setenv("JEVONS_TEST_WEBHOOK_SECRET", "rate-secret")
	hook := newReceiver(t, "rate-secret")
	set, err := alert.Load(writeRules(t, fmt.Sprintf(`channels:
  hook: {type: webhook, url: %q, secret_env: JEVONS_TEST_WEBHOOK_SECRET}
rules:
  - name: burn-rate
    kind: runaway_task
    scope: {task_id: x}
    channels: [hook]
    runaway: {rate: 1, rate_window: 1m}
`, hook.URL)))
	if err == nil {
		t.Fatal("task_id is not a scope field, yet the rules loaded")
	}
	set, err = alert.Load(writeRules(t, fmt.Sprintf(`channels:
  hook: {type: webhook, url: %q, secret_env: JEVONS_TEST_WEBHOOK_SECRET}
rules:
  - name: burn-rate
    kind: runaway_task
    scope: {tenant: rate}
    channels: [hook]
    runaway: {rate: 1, rate_window: 1m}
  - name: big-task
    kind: runaway_task
    scope: {tenant: idle}
    channels: [hook]
    runaway: {requests: 1, idle: 30s}
`, hook.URL)))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	clk.set(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	m := alert.NewMetrics(nil)
	d, err := alert.NewDispatcher(alert.DefaultDispatchConfig(), set, alert.NewStore(e.conn, e.db, nil), m, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = d.Run(ctx) }()
	r := alert.NewRunaway(alert.RunawayConfig{Group: "g", Tick: 20 * time.Millisecond}, set, d, e.conn, e.db, m, zap.NewNop(), clk.now)
	go func() { _ = r.Run(ctx) }()
	t0 := clk.now().UnixMilli()
	var reqs uint64
	var cost int64
	observe := func(tenant string, at int64, c int64) {
		reqs++
		cost += c
		r.ObserveTask(&aggregate.TaskObservation{Partition: 0, Owner: 7, Offset: int64(reqs), Time: at, Tenant: tenant, TaskID: "t", Window: t0,
			CostNanos: c, Partial: aggregate.TaskPartial{Requests: reqs, CostNanos: cost, MinTime: t0 / 1000, MaxTime: at / 1000, Version: int64(reqs)}})
	}
	observe("rate", t0, 0.5e9)
	observe("rate", t0+10_000, 0.5e9) // 1.0 USD/min: not above
	time.Sleep(300 * time.Millisecond)
	if n := len(hook.all()); n != 0 {
		t.Fatalf("fired at 1.0 USD/min: %d notifications", n)
	}
	observe("rate", t0+20_000, 0.5e9) // 1.5 USD/min
	waitFor(t, 10*time.Second, "the rate firing", func() bool { return len(hook.all()) == 1 })
	if f := hook.all()[0]; f.State != notify.Firing || f.Figures["rate_usd_per_min"] != 1.5 {
		t.Fatalf("firing %+v", f)
	}
	observe("rate", t0+200_000, 0.1e9) // two minutes later: 0.1 USD/min
	waitFor(t, 10*time.Second, "the rate resolve", func() bool { return len(hook.all()) == 2 })
	if res := hook.all()[1]; res.State != notify.Resolved || res.Key != hook.all()[0].Key {
		t.Fatalf("resolve %+v", res)
	}

	reqs, cost = 0, 0
	observe("idle", t0, 1e6)
	observe("idle", t0+1000, 1e6) // 2 requests > 1
	waitFor(t, 10*time.Second, "the idle task's firing", func() bool { return len(hook.all()) == 3 })
	clk.add(31 * time.Second) // no event for longer than idle
	waitFor(t, 10*time.Second, "the idle resolve", func() bool { return len(hook.all()) == 4 })
	if res := hook.all()[3]; res.State != notify.Resolved || res.Rule != "big-task" {
		t.Fatalf("idle resolve %+v", res)
	}
}
