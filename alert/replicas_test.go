package alert_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Two `jevons alert` replicas elect one leader through Kafka; SIGKILL of
// the leader mid-run hands over to the other, which restores the states
// from ClickHouse: every budget threshold is notified once, under one
// idempotency key (a re-send after the kill carries the same key).
func TestAlertReplicasNotifyOnceAcrossALeaderSIGKILL(t *testing.T) {
	e := newStream(t, 1)
	t.Setenv("JEVONS_TEST_WEBHOOK_SECRET", "replica-secret")
	hook := newReceiver(t, "replica-secret")
	rule := fmt.Sprintf("replicas_%d", time.Now().UnixNano()%1e9)
	rules := writeRules(t, fmt.Sprintf(`channels:
  hook: {type: webhook, url: %q, secret_env: JEVONS_TEST_WEBHOOK_SECRET}
rules:
  - name: %s
    kind: budget
    group_by: [tenant]
    channels: [hook]
    budget: {metric: cost, period: day, limit: 10, thresholds: [0.5, 0.8, 1.0]}
`, hook.URL, rule))
	start := func(i int) (*exec.Cmd, string) {
		log := filepath.Join(e.logs, fmt.Sprintf("alert-%d-%d.log", i, time.Now().UnixNano()))
		f, _ := os.Create(log)
		cmd := exec.Command(jevonsBin, "alert", "--rules", rules, "--clickhouse", e.cfg.Addr, "--database", e.db, "--interval", "500ms",
			"--name", rule, "--brokers", e.kafka, "--leader-topic", "jevons.alert-leader."+rule, "--leader-session-timeout", "6s")
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				_ = cmd.Wait()
			}
			f.Close()
			if t.Failed() {
				out, _ := os.ReadFile(log)
				t.Logf("%s:\n%s", log, out)
			}
		})
		return cmd, log
	}
	a, alog := start(1)
	b, blog := start(2)
	leading := func(log string) bool { out, _ := os.ReadFile(log); return strings.Contains(string(out), "leading") }
	waitFor(t, 60*time.Second, "a leader", func() bool { return leading(alog) || leading(blog) })
	now := time.Now().UTC().Truncate(time.Minute)
	e.usage(t, now, "acme", "gpt-4o", 6, 10, 1) // 60%
	waitFor(t, 20*time.Second, "the 50% notification", func() bool { return len(hook.all()) == 1 })
	leader, other := a, b
	if !leading(alog) {
		leader, other = b, a
	}
	_ = leader.Process.Signal(syscall.SIGKILL)
	_ = leader.Wait()
	e.usage(t, now, "acme", "gpt-4o", 11, 20, 2) // the same state, grown: 110%
	waitFor(t, 40*time.Second, "the 80% and 100% notifications from the new leader", func() bool { return len(hook.all()) >= 3 })
	time.Sleep(2 * time.Second) // a duplicate would arrive now
	// Delivery is at least once (alert/doc.go): SIGKILL between the
	// receiver's answer and the outbox's done mark makes the new leader
	// re-send that notification, with the same idempotency key, which is
	// how a receiver recognises it. So each threshold must come with exactly
	// one key, and nothing else may arrive.
	keys := map[string]map[string]bool{} // threshold -> idempotency keys
	for _, n := range hook.all() {
		pct := n.Labels["threshold_pct"]
		if keys[pct] == nil {
			keys[pct] = map[string]bool{}
		}
		keys[pct][n.Key] = true
	}
	var pcts []string
	for pct, ks := range keys {
		if len(ks) != 1 {
			t.Errorf("threshold %s%% notified under %d idempotency keys; want one", pct, len(ks))
		}
		pcts = append(pcts, pct)
	}
	sort.Strings(pcts)
	if strings.Join(pcts, ",") != "100,50,80" {
		t.Fatalf("thresholds notified %v; want 50, 80 and 100, each once (one idempotency key)", pcts)
	}
	_ = other
}
