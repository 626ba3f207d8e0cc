package alert_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jevonsdev/jevons/alert/notify"
	"github.com/jevonsdev/jevons/internal/itest"
	"github.com/jevonsdev/jevons/schemas"
)

func runawayRules(t testing.TB, hook, am, rule string, limitUSD float64) string {
	return writeRules(t, channelsYAML(hook, am)+fmt.Sprintf(`rules:
  - name: %s
    kind: runaway_task
    scope: {task_type: "agent-*"}
    group_by: [app]
    annotations: {summary: "task {{.Labels.task_id}} has cost {{.Figures.cost_usd}} USD"}
    channels: [hook, am]
    runaway: {cost: %v, idle: 1m}
`, rule, limitUSD))
}

func TestRunawayTaskFiresWithinSecondsOfTheCrossingEventAndResolvesWhenDone(t *testing.T) {
	e := newStream(t, 2)
	am := itest.Alertmanager(t)
	t.Setenv("JEVONS_TEST_WEBHOOK_SECRET", "runaway-secret")
	hook := newReceiver(t, "runaway-secret")
	rule := fmt.Sprintf("runaway_%d", time.Now().UnixNano()%1e9)
	const limit = 0.5 // USD
	agg := e.startAggregator(t, runawayRules(t, hook.URL, am, rule, limit))
	agg.waitReady(t)

	// a well-behaved task well under the limit, and one looping
	var calm []schemas.Event
	for i := range 3 {
		ev, _ := e.event(t, "acme", "calm", i, i == 2)
		calm = append(calm, ev)
	}
	e.produce(t, calm...)
	var total int64
	crossing, crossedAt := -1, time.Time{}
	for i := 0; crossing < 0 || i < crossing+5; i++ {
		ev, cost := e.event(t, "acme", "loop", i, false)
		total += cost
		start := time.Now()
		e.produce(t, ev)
		if crossing < 0 && float64(total) > limit*1e9 {
			crossing, crossedAt = i, start
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, 10*time.Second, "the runaway notification", func() bool { return len(hook.all()) >= 1 })
	hook.mu.Lock()
	first, at := hook.got[0], hook.at[0]
	hook.mu.Unlock()
	latency := at.Sub(crossedAt)
	t.Logf("crossing event #%d produced -> notification received: %v", crossing, latency)
	if latency > 5*time.Second {
		t.Fatalf("notified %v after the crossing event was produced; want within 5s", latency)
	}
	if first.State != notify.Firing || first.Labels["task_id"] != "loop" || first.Labels["tenant"] != "acme" || first.Labels["app"] != "coder" {
		t.Fatalf("firing notification %+v", first)
	}
	// it fired on the crossing event itself: the figures are the totals there
	if first.Figures["requests"] != float64(crossing+1) || first.Figures["cost_usd"].(float64) <= limit {
		t.Fatalf("figures %v, crossing at request %d", first.Figures, crossing+1)
	}
	if m, _ := first.Figures["models"].([]any); len(m) != 1 || m[0] != "gpt-4o" {
		t.Fatalf("models %v", first.Figures["models"])
	}
	waitFor(t, 10*time.Second, "alertmanager to show the runaway task", func() bool {
		as := amAlertsNamed(t, am, rule)
		return len(as) == 1 && as[0]["labels"].(map[string]any)["task_id"] == "loop"
	})
	time.Sleep(500 * time.Millisecond)
	if n := len(hook.all()); n != 1 {
		t.Fatalf("%d notifications while the task ran past its limit; want 1 (no notification per event)", n)
	}
	// the task ends
	last, _ := e.event(t, "acme", "loop", 1000, true)
	e.produce(t, last)
	waitFor(t, 10*time.Second, "the resolve", func() bool { return len(hook.all()) == 2 })
	r := hook.all()[1]
	if r.State != notify.Resolved || r.Key != first.Key || r.ResolvedAt == nil {
		t.Fatalf("resolve %+v (firing key %s)", r, first.Key)
	}
	waitFor(t, 10*time.Second, "alertmanager to resolve", func() bool {
		for _, a := range amAlertsNamed(t, am, rule) {
			ends, _ := time.Parse(time.RFC3339Nano, a["endsAt"].(string))
			if ends.After(time.Now()) {
				return false
			}
		}
		return true
	})
	if hook.bad != 0 {
		t.Fatalf("%d bad requests", hook.bad)
	}
}
