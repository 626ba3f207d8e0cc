package alert_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jevonsdev/jevons/alert/notify"
	"github.com/jevonsdev/jevons/analytics"
	"github.com/jevonsdev/jevons/internal/itest"
)

func TestJevonsRuleFiresWhenSpendRisesWhileUnitCostFalls(t *testing.T) {
	e := newCH(t)
	am := itest.Alertmanager(t)
	t.Setenv("JEVONS_TEST_WEBHOOK_SECRET", "jevons-secret")
	hook := newReceiver(t, "jevons-secret")
	rule := fmt.Sprintf("jevons_%d", time.Now().UnixNano()%1e9)
	file := writeRules(t, channelsYAML(hook.URL, am)+fmt.Sprintf(`rules:
  - name: %s
    kind: jevons
    group_by: [tenant]
    annotations: {summary: "{{.Labels.tenant}}: spend x{{printf \"%%.2f\" .Figures.spend_factor}}"}
    channels: [hook, am]
    jevons: {period: 10m, spend_rise_pct: 20, unit_cost_fall_pct: 10}
`, rule))
	p0 := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	p1 := p0.Add(10 * time.Minute)
	// acme: a cheaper model, three times the tokens: spend x1.5, unit cost x0.5
	e.usageRow(t, p0.Add(time.Minute), "acme", "gpt-4o", 10, 10, 800_000, 200_000, 100, 1)
	e.usageRow(t, p1.Add(time.Minute), "acme", "gpt-4o-mini", 15, 30, 2_400_000, 600_000, 300, 2)
	// flat: the same both times
	e.usageRow(t, p0.Add(time.Minute), "flat", "gpt-4o", 10, 10, 800_000, 200_000, 100, 1)
	e.usageRow(t, p1.Add(time.Minute), "flat", "gpt-4o", 10, 10, 800_000, 200_000, 100, 2)
	clk := &clock{}
	clk.set(p1.Add(15 * time.Minute)) // in the period after p1: p0 and p1 are complete
	rig := startPeriod(t, e, file, clk)
	rig.ev.EvaluateAll(context.Background())
	waitFor(t, 10*time.Second, "the jevons alert", func() bool { return len(hook.all()) >= 1 })
	time.Sleep(300 * time.Millisecond)
	got := hook.all()
	if len(got) != 1 {
		t.Fatalf("%d notifications, want 1 (acme only): %+v", len(got), got)
	}
	n := got[0]
	if n.State != notify.Firing || n.Labels["tenant"] != "acme" {
		t.Fatalf("notification %+v", n)
	}
	if n.Figures["spend_factor"] != 1.5 || n.Figures["unit_cost_factor"] != 0.5 || n.Figures["usage_factor"] != 3.0 {
		t.Fatalf("factors %v", n.Figures)
	}
	if n.Figures["verdict"] != string(analytics.UsageOutpacesDecline) || !strings.Contains(n.Verdict, string(analytics.UsageOutpacesDecline)) {
		t.Fatalf("verdict %q / %v", n.Verdict, n.Figures["verdict"])
	}
	if n.Annotations["summary"] != "acme: spend x1.50" {
		t.Fatalf("summary %q", n.Annotations["summary"])
	}
	// a second evaluation in the same period sends nothing new
	rig.ev.EvaluateAll(context.Background())
	time.Sleep(500 * time.Millisecond)
	if len(hook.all()) != 1 {
		t.Fatalf("re-evaluation sent again: %d notifications", len(hook.all()))
	}
	waitFor(t, 10*time.Second, "alertmanager to show the jevons alert", func() bool { return len(amAlertsNamed(t, am, rule)) == 1 })
}
