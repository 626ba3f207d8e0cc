package alert_test

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jevonsdev/jevons/alert/notify"
	"github.com/jevonsdev/jevons/internal/itest"
	"github.com/jevonsdev/jevons/schemas"
)

// SIGKILL of the aggregator while one notification was delivered and
// another was still being retried (its receiver answered 503): after a
// restart neither is sent twice and neither is lost, and both tasks
// resolve once.
func TestSIGKILLMidRunNeitherDuplicatesNorLosesNotifications(t *testing.T) {
	e := newStream(t, 2)
	am := itest.Alertmanager(t)
	t.Setenv("JEVONS_TEST_WEBHOOK_SECRET", "kill-secret")
	hook := newReceiver(t, "kill-secret")
	var allow atomic.Bool
	hook.refuse = func(n notify.Notification) bool { return n.Labels["task_id"] == "t2" && !allow.Load() }
	rule := fmt.Sprintf("kill_%d", time.Now().UnixNano()%1e9)
	const limit = 0.3
	rules := runawayRules(t, hook.URL, am, rule, limit)
	a := e.startAggregator(t, rules, "--flush-interval", "500ms")
	a.waitReady(t)

	loop := func(task string, n int) {
		var evs []schemas.Event
		for i := range n {
			ev, _ := e.event(t, "acme", task, i, false)
			evs = append(evs, ev)
		}
		e.produce(t, evs...)
	}
	loop("t1", 12) // 12 x 0.035 USD: over 0.3 from the 9th
	waitFor(t, 15*time.Second, "t1's firing", func() bool { return len(hook.all()) == 1 })
	loop("t2", 12)
	waitFor(t, 15*time.Second, "a refused attempt for t2", func() bool {
		hook.mu.Lock()
		defer hook.mu.Unlock()
		return hook.refused > 0
	})
	time.Sleep(2 * time.Second) // flushes: the checkpoint now lies past both crossings
	a.kill9()
	allow.Store(true)

	b := e.startAggregator(t, rules, "--flush-interval", "500ms")
	b.waitReady(t)
	d1, _ := e.event(t, "acme", "t1", 100, true)
	d2, _ := e.event(t, "acme", "t2", 100, true)
	e.produce(t, d1, d2)
	waitFor(t, 20*time.Second, "t2's firing and both resolves", func() bool { return len(hook.all()) >= 4 })
	time.Sleep(2 * time.Second) // anything duplicated would arrive now
	if os.Getenv("JEVONS_TEST_SHOW_LOGS") != "" {
		out, _ := os.ReadFile(b.log)
		t.Logf("%s", out)
	}
	count := map[string]int{}
	keys := map[string]map[string]bool{}
	for _, n := range hook.all() {
		task := n.Labels["task_id"]
		count[task+"/"+n.State]++
		if keys[task] == nil {
			keys[task] = map[string]bool{}
		}
		keys[task][n.Key] = true
	}
	for _, k := range []string{"t1/firing", "t2/firing", "t1/resolved", "t2/resolved"} {
		if count[k] != 1 {
			t.Fatalf("%s delivered %d times, want exactly once: %v", k, count[k], count)
		}
	}
	for task, ks := range keys {
		if len(ks) != 1 {
			t.Fatalf("task %s notified under %d idempotency keys", task, len(ks))
		}
	}
}
