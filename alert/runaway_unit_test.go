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

// The evaluator on its own, fed observations as a partition would: it
// fires once on the crossing event, not on the ones after, and resolves
// when the task is done; a replayed crossing (a new owner) is not re-sent.
func TestRunawayEvaluatorFiresOnceOnTheCrossingAndDedupsAReplay(t *testing.T) {
	e := newCH(t)
	t.Setenv("JEVONS_TEST_WEBHOOK_SECRET", "unit-secret")
	hook := newReceiver(t, "unit-secret")
	file := writeRules(t, fmt.Sprintf(`channels:
  hook: {type: webhook, url: %q, secret_env: JEVONS_TEST_WEBHOOK_SECRET}
rules:
  - name: loop
    kind: runaway_task
    channels: [hook]
    runaway: {requests: 3, idle: 1h}
`, hook.URL))
	set, err := alert.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	run := func(owner uint64, events int, done bool) {
		m := alert.NewMetrics(nil)
		d, err := alert.NewDispatcher(alert.DefaultDispatchConfig(), set, alert.NewStore(e.conn, e.db, nil), m, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		stopped := make(chan struct{})
		go func() { _ = d.Run(ctx); close(stopped) }()
		r := alert.NewRunaway(alert.RunawayConfig{Group: "g"}, set, d, e.conn, e.db, m, zap.NewNop(), nil)
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC).UnixMilli()
		for i := range events {
			o := &aggregate.TaskObservation{Partition: 0, Owner: owner, Offset: int64(i), Time: t0 + int64(i)*1000, Tenant: "acme", TaskID: "t1",
				TaskType: "agent", App: "coder", Model: "m", Tokens: 10, CostNanos: 1e6, Window: t0,
				Partial: aggregate.TaskPartial{Requests: uint64(i + 1), Tokens: uint64(10 * (i + 1)), CostNanos: int64(1e6 * (i + 1)),
					MinTime: t0 / 1000, MaxTime: t0/1000 + int64(i), Models: []string{"m"}, Version: int64(i)}}
			if done && i == events-1 {
				o.Done, o.Partial.Done = true, true
			}
			r.ObserveTask(o)
		}
		time.Sleep(1500 * time.Millisecond)
		cancel()
		<-stopped
	}
	run(1, 6, false)
	got := hook.all()
	if len(got) != 1 || got[0].State != notify.Firing || got[0].Figures["requests"] != 4.0 {
		t.Fatalf("after the first run: %+v", got)
	}
	run(2, 6, false) // a new owner replays the same events
	if n := len(hook.all()); n != 1 {
		t.Fatalf("a replay re-sent the firing: %d notifications", n)
	}
	run(3, 8, true)
	got = hook.all()
	if len(got) != 2 || got[1].State != notify.Resolved || got[1].Key != got[0].Key {
		t.Fatalf("after done: %+v", got)
	}
}
