package alert_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jevonsdev/jevons/alert"
)

func TestTheExampleRulesFileIsValid(t *testing.T) {
	set, err := alert.Load("../deploy/rules.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, r := range set.Rules {
		kinds[r.Kind] = true
	}
	for _, k := range []string{alert.KindBudget, alert.KindThreshold, alert.KindSpike, alert.KindRunaway, alert.KindJevons} {
		if !kinds[k] {
			t.Errorf("the example has no %s rule", k)
		}
	}
}

func TestInvalidRulesListEveryProblemByFileRuleAndField(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	b := filepath.Join(dir, "b.yaml")
	os.WriteFile(a, []byte(`channels:
  hook: {type: webhook, url: "https://example.com/x"}
  pager: {type: pager, url: "ftp://x"}
rules:
  - name: unknown-kind
    kind: budgt
    channels: [hook]
  - name: no-limit
    kind: budget
    budget: {period: month}
    channels: [hook]
  - name: bad-duration
    kind: threshold
    threshold: {metric: cost, window: 15 minutes}
    channels: [hook]
`), 0o644)
	os.WriteFile(b, []byte(`rules:
  - name: bad-channel
    kind: runaway_task
    runaway: {cost: 5}
    channels: [slack]
  - name: bad-template
    kind: spike
    spike: {metric: cost, window: 1h, factor: 3}
    annotations: {summary: "{{.Figures.nope}}"}
    channels: [hook]
  - name: unknown-kind
    kind: threshold
    threshold: {metric: cost, window: 7s, value: 1}
    channels: [hook]
`), 0o644)
	_, err := alert.Load(a, b)
	if err == nil {
		t.Fatal("invalid rules were accepted")
	}
	msg := err.Error()
	// the duration error stops a's decoding, so a's other rules are checked after it is fixed;
	// b is checked in full
	for _, want := range []string{
		a + `: parse rules:`, `bad duration "15 minutes"`,
		b + `: rule "bad-channel": channels: unknown channel "slack"`,
		b + `: rule "bad-template": annotations.summary: template:`,
		b + `: rule "unknown-kind": threshold.window: want a whole number of minutes`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("problems lack %q:\n%s", want, msg)
		}
	}
	os.WriteFile(a, []byte(strings.Replace(mustRead(t, a), "15 minutes", "15m", 1)), 0o644)
	_, err = alert.Load(a, b)
	msg = err.Error()
	for _, want := range []string{
		a + `: channel "pager": type: unknown channel type "pager"`,
		a + `: channel "pager": url: want http:// or https://`,
		a + `: rule "unknown-kind": kind: unknown kind "budgt"`,
		a + `: rule "no-limit": budget.limit: missing or not > 0`,
		b + `: rule "unknown-kind": name: already used in ` + a,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("problems lack %q:\n%s", want, msg)
		}
	}
}

func mustRead(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDurationsAcceptDaysAndWeeks(t *testing.T) {
	for in, want := range map[string]time.Duration{"90s": 90 * time.Second, "15m": 15 * time.Minute, "7d": 7 * 24 * time.Hour, "2w": 14 * 24 * time.Hour} {
		got, err := alert.ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	if _, err := alert.ParseDuration("soon"); err == nil {
		t.Error("soon parsed")
	}
}

func TestIdempotencyKeysAreDeterministic(t *testing.T) {
	k := alert.IdempotencyKey("r", "tenant=acme", "total")
	if k != alert.IdempotencyKey("r", "tenant=acme", "total") || k == alert.IdempotencyKey("r", "tenant=acme", "rate/1") || len(k) != 32 {
		t.Fatalf("key %q", k)
	}
}
