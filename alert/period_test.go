package alert_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/alert"
	"github.com/jevonsdev/jevons/alert/notify"
	"github.com/jevonsdev/jevons/internal/itest"
)

// clock is an injected clock tests move by hand.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }

// periodRig runs a Period evaluator with its dispatcher, as `jevons alert` does.
type periodRig struct {
	ev     *alert.Period
	stop   func()
	queued atomic.Int64
}

func startPeriod(t *testing.T, e *chEnv, rulesFile string, clk *clock) *periodRig {
	t.Helper()
	set, err := alert.Load(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	m := alert.NewMetrics(nil)
	store := alert.NewStore(e.conn, e.db, nil)
	cfg := alert.DefaultDispatchConfig()
	cfg.Backoff = 50 * time.Millisecond
	d, err := alert.NewDispatcher(cfg, set, store, m, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	q := &alert.Querier{Conn: e.conn, DB: e.db}
	r := &periodRig{ev: alert.NewPeriod(alert.PeriodConfig{Owner: "test"}, set, q, store, d, m, zap.NewNop(), clk.now)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	r.stop = func() { cancel(); <-done }
	t.Cleanup(r.stop)
	if err := r.ev.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

func channelsYAML(hook string, am string) string {
	return fmt.Sprintf(`channels:
  hook: {type: webhook, url: %q, secret_env: JEVONS_TEST_WEBHOOK_SECRET}
  am: {type: alertmanager, url: %q, resend: 1s}
`, hook, am)
}

func TestBudgetThresholdsEachNotifyOncePerPeriodAcrossARestart(t *testing.T) {
	e := newCH(t)
	am := itest.Alertmanager(t)
	t.Setenv("JEVONS_TEST_WEBHOOK_SECRET", "budget-secret")
	hook := newReceiver(t, "budget-secret")
	rule := fmt.Sprintf("budget_%d", time.Now().UnixNano()%1e9)
	file := writeRules(t, channelsYAML(hook.URL, am)+fmt.Sprintf(`rules:
  - name: %s
    kind: budget
    scope: {tenant: "acme*"}
    group_by: [tenant]
    annotations: {summary: "{{.Labels.tenant}} used {{printf \"%%.0f\" .Figures.used_pct}}%%"}
    channels: [hook, am]
    budget: {metric: cost, period: day, limit: 10, thresholds: [0.5, 0.8, 1.0]}
`, rule))
	clk := &clock{}
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	clk.set(day.Add(12 * time.Hour))
	rig := startPeriod(t, e, file, clk)
	ctx := context.Background()
	// cumulative spend after each step, in USD, in one window per step
	steps := []float64{3, 6, 8.5, 12, 13}
	prev := 0.0
	for i, total := range steps {
		e.usage(t, clk.now().Truncate(time.Minute), "acme-1", "gpt-4o", total-prev, 10, uint64(i+1))
		e.usage(t, clk.now().Truncate(time.Minute), "other", "gpt-4o", 100, 10, uint64(i+1)) // out of scope
		prev = total
		rig.ev.EvaluateAll(ctx)
		time.Sleep(300 * time.Millisecond)
		clk.add(time.Minute)
		if i == 2 {
			// the process dies (its memory with it) and a new one restores from ClickHouse
			rig.stop()
			rig = startPeriod(t, e, file, clk)
		}
	}
	waitFor(t, 10*time.Second, "three budget notifications", func() bool { return len(hook.all()) >= 3 })
	time.Sleep(500 * time.Millisecond)
	got := hook.all()
	var pcts []string
	for _, n := range got {
		if n.State != notify.Firing || n.Labels["tenant"] != "acme-1" {
			t.Fatalf("unexpected notification %+v", n)
		}
		pcts = append(pcts, n.Labels["threshold_pct"])
	}
	sort.Strings(pcts)
	if strings.Join(pcts, ",") != "100,50,80" {
		t.Fatalf("thresholds notified: %v (want 50, 80 and 100 once each)", pcts)
	}
	for _, n := range got {
		if n.Labels["threshold_pct"] == "100" {
			if n.Figures["spent"] != 12.0 || n.Figures["limit"] != 10.0 || n.Figures["used_pct"] != 120.0 || n.Annotations["summary"] != "acme-1 used 120%" {
				t.Fatalf("100%% figures %v annotations %v", n.Figures, n.Annotations)
			}
			if n.Figures["period_start"] != day.Format(time.RFC3339) {
				t.Fatalf("period_start %v", n.Figures["period_start"])
			}
		}
	}
	if hook.bad != 0 {
		t.Fatalf("%d requests failed signature or decoding", hook.bad)
	}
	// the history has one firing row per threshold
	var rows uint64
	if err := e.conn.QueryRow(ctx, "SELECT count() FROM "+e.db+".alerts WHERE rule = '"+rule+"' AND state = 'firing' AND has(notified, 'hook') AND has(notified, 'am')").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 3 {
		t.Fatalf("alerts history holds %d firing rows, want 3", rows)
	}
	// Alertmanager holds the three thresholds as three alerts
	waitFor(t, 10*time.Second, "alertmanager to hold 3 alerts", func() bool { return len(amAlertsNamed(t, am, rule)) == 3 })
}

func TestSpikeFiresAboveFactorAndFloorThenResolves(t *testing.T) {
	e := newCH(t)
	am := itest.Alertmanager(t)
	t.Setenv("JEVONS_TEST_WEBHOOK_SECRET", "spike-secret")
	hook := newReceiver(t, "spike-secret")
	rule := fmt.Sprintf("spike_%d", time.Now().UnixNano()%1e9)
	file := writeRules(t, channelsYAML(hook.URL, am)+fmt.Sprintf(`rules:
  - name: %s
    kind: spike
    group_by: [tenant]
    channels: [hook, am]
    spike: {metric: cost, window: 5m, baseline: mean, periods: 3, period: 10m, factor: 3, floor: 2}
`, rule))
	clk := &clock{}
	now := time.Date(2026, 3, 10, 12, 0, 30, 0, time.UTC)
	clk.set(now)
	end := now.Truncate(time.Minute).Add(time.Minute)
	for k := 1; k <= 3; k++ { // baseline: 1 USD in each of the last three same windows
		e.usage(t, end.Add(-time.Duration(k)*10*time.Minute-2*time.Minute), "big", "gpt-4o", 1, 5, 1)
		e.usage(t, end.Add(-time.Duration(k)*10*time.Minute-2*time.Minute), "tiny", "gpt-4o", 0.01, 5, 1)
	}
	e.usage(t, end.Add(-2*time.Minute), "big", "gpt-4o", 5, 5, 2)    // 5x the baseline, above the floor
	e.usage(t, end.Add(-2*time.Minute), "tiny", "gpt-4o", 0.5, 5, 2) // 50x, but under the floor
	rig := startPeriod(t, e, file, clk)
	ctx := context.Background()
	rig.ev.EvaluateAll(ctx)
	waitFor(t, 10*time.Second, "the spike to fire", func() bool { return len(hook.all()) == 1 })
	n := hook.all()[0]
	if n.State != notify.Firing || n.Labels["tenant"] != "big" || n.Figures["value"] != 5.0 || n.Figures["baseline"] != 1.0 {
		t.Fatalf("firing notification %+v", n)
	}
	waitFor(t, 10*time.Second, "alertmanager to show the spike", func() bool { return len(amAlertsNamed(t, am, rule)) == 1 })
	clk.add(6 * time.Minute) // the spike's minute leaves the window
	rig.ev.EvaluateAll(ctx)
	waitFor(t, 10*time.Second, "the spike to resolve", func() bool { return len(hook.all()) == 2 })
	r := hook.all()[1]
	if r.State != notify.Resolved || r.Key != n.Key || r.ResolvedAt == nil {
		t.Fatalf("resolve notification %+v (firing key %s)", r, n.Key)
	}
	waitFor(t, 10*time.Second, "alertmanager to resolve the spike", func() bool {
		for _, a := range amAlertsNamed(t, am, rule) {
			if a["status"].(map[string]any)["state"] == "active" {
				ends, _ := time.Parse(time.RFC3339Nano, a["endsAt"].(string))
				if ends.After(time.Now()) {
					return false
				}
			}
		}
		return true
	})
}
