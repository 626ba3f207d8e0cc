package alert_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jevonsdev/jevons/alert/notify"
	"github.com/jevonsdev/jevons/internal/itest"
)

// A threshold rule with `for:` waits in pending, fires once the condition
// held that long, reminds every repeat interval with the same key, and
// resolves when the window no longer holds the usage.
func TestThresholdPendsForThenFiresRemindsAndResolves(t *testing.T) {
	e := newCH(t)
	am := itest.Alertmanager(t)
	t.Setenv("JEVONS_TEST_WEBHOOK_SECRET", "thr-secret")
	hook := newReceiver(t, "thr-secret")
	rule := fmt.Sprintf("thr_%d", time.Now().UnixNano()%1e9)
	file := writeRules(t, channelsYAML(hook.URL, am)+fmt.Sprintf(`rules:
  - name: %s
    kind: threshold
    group_by: [tenant]
    channels: [hook]
    for: 2m
    repeat: 5m
    threshold: {metric: requests, window: 15m, op: above, value: 100}
`, rule))
	clk := &clock{}
	t0 := time.Date(2026, 3, 10, 12, 0, 10, 0, time.UTC)
	clk.set(t0)
	e.usage(t, t0.Truncate(time.Minute), "acme", "gpt-4o", 1, 150, 1)
	e.usage(t, t0.Truncate(time.Minute), "small", "gpt-4o", 1, 10, 1)
	rig := startPeriod(t, e, file, clk)
	ctx := context.Background()
	step := func(d time.Duration) {
		clk.set(t0.Add(d))
		rig.ev.EvaluateAll(ctx)
		time.Sleep(300 * time.Millisecond)
	}
	step(0)
	step(time.Minute)
	if n := len(hook.all()); n != 0 {
		t.Fatalf("notified while pending: %d", n)
	}
	var pending uint64
	if err := e.conn.QueryRow(ctx, "SELECT count() FROM "+e.db+".alerts WHERE rule = '"+rule+"' AND state = 'pending'").Scan(&pending); err != nil || pending != 1 {
		t.Fatalf("pending rows %d, %v", pending, err)
	}
	step(2 * time.Minute)
	waitFor(t, 10*time.Second, "the firing", func() bool { return len(hook.all()) == 1 })
	step(4 * time.Minute) // no reminder yet: the repeat counts from the start (t0)
	step(5*time.Minute + 30*time.Second)
	waitFor(t, 10*time.Second, "the reminder", func() bool { return len(hook.all()) == 2 })
	step(16 * time.Minute) // the usage left the 15-minute window
	waitFor(t, 10*time.Second, "the resolve", func() bool { return len(hook.all()) == 3 })
	got := hook.all()
	if got[0].State != notify.Firing || got[0].Repeat != 0 || got[0].Figures["value"] != 150.0 || got[0].Labels["tenant"] != "acme" {
		t.Fatalf("firing %+v", got[0])
	}
	if got[1].State != notify.Firing || got[1].Repeat != 1 || got[1].Key != got[0].Key {
		t.Fatalf("reminder %+v", got[1])
	}
	if got[2].State != notify.Resolved || got[2].Key != got[0].Key {
		t.Fatalf("resolve %+v", got[2])
	}
	if !got[0].StartedAt.Equal(t0) {
		t.Fatalf("started_at %v, want the start of pending %v", got[0].StartedAt, t0)
	}
}
