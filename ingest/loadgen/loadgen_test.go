package loadgen

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/schemas"
)

// recorder is a Sink that keeps what it receives.
type recorder struct {
	events []schemas.Event
	raw    [][]byte
}

func (r *recorder) Emit(_ context.Context, ev *schemas.Event) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	r.events = append(r.events, *ev)
	return nil
}

func (r *recorder) EmitRaw(_ context.Context, _, v []byte) error {
	r.raw = append(r.raw, v)
	return nil
}

func TestRunKeepsExactTruth(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Events, cfg.DupRatio, cfg.BadRatio, cfg.LateRatio, cfg.TooOldRatio = 5000, 0.05, 0.02, 0.03, 0.01
	cat := pricing.MustDefault()
	clock := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { clock = clock.Add(10 * time.Millisecond); return clock }
	var r recorder
	truth, err := Run(context.Background(), cfg, &r, cat, time.Time{}, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	if truth.Messages != int64(len(r.events)+len(r.raw)) || truth.Bad != int64(len(r.raw)) {
		t.Fatalf("messages %d bad %d, recorded %d events and %d raw", truth.Messages, truth.Bad, len(r.events), len(r.raw))
	}
	if truth.Events+truth.TooOld != int64(cfg.Events) || truth.Duplicates == 0 || truth.Late == 0 || truth.TooOld == 0 {
		t.Fatalf("truth %+v", truth)
	}
	// Recount from what the sink received, deduplicating by event id.
	seen := map[string]bool{}
	var requests, cost int64
	var d schemas.Decoder
	for _, ev := range r.events {
		if seen[ev.EventID] || clock.Sub(ev.Time) > 30*24*time.Hour {
			continue
		}
		seen[ev.EventID] = true
		requests++
		u := pricing.Usage{Input: ev.Usage.InputTokens, Output: ev.Usage.OutputTokens, CacheRead: ev.Usage.CacheReadTokens,
			CacheWrite: ev.Usage.CacheWriteTokens, CacheWrite1h: ev.Usage.CacheWrite1hTokens, Reasoning: ev.Usage.ReasoningTokens}
		res, err := cat.CostAt(u, ev.Provider, ev.Model, ev.Time)
		if err != nil {
			t.Fatal(err)
		}
		cost += res.CostNanos
	}
	if requests != truth.Totals.Requests || cost != truth.Totals.CostNanos {
		t.Fatalf("recount %d requests %d nanos, truth %d and %d", requests, cost, truth.Totals.Requests, truth.Totals.CostNanos)
	}
	if truth.Totals.UnpricedRequests == 0 || truth.Totals.ReasoningTokens == 0 || truth.Totals.CacheWrite1hTokens == 0 {
		t.Fatalf("traffic lacks unpriced models, reasoning or 1-hour cache writes: %+v", truth.Totals)
	}
	for _, raw := range r.raw {
		var ev schemas.Event
		var se *schemas.SyntaxError
		var ve *schemas.ValidationError
		if err := d.Decode(raw, &ev); !errors.As(err, &se) && !errors.As(err, &ve) {
			t.Fatalf("bad message %q decoded: %v", raw, err)
		}
	}
}

func TestRunIsDeterministicForASeed(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Events = 500
	run := func() *Truth {
		clock := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		var r recorder
		tr, err := Run(context.Background(), cfg, &r, pricing.MustDefault(), time.Time{}, 0, func() time.Time { return clock })
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	a, b := run(), run()
	if a.Totals != b.Totals || len(a.Tasks) != len(b.Tasks) {
		t.Fatalf("same seed, different traffic: %+v vs %+v", a.Totals, b.Totals)
	}
}

func TestEveryPricedModelInTheMixIsInTheCatalog(t *testing.T) {
	cat := pricing.MustDefault()
	for _, m := range models {
		found := cat.Match(m.provider, m.model) != nil
		if found == (m.model == "acme-internal-finetune-7b") {
			t.Errorf("%s/%s: found=%v", m.provider, m.model, found)
		}
	}
}

func TestRealisticDimsGiveEachTenantFewAppsAndEachAppFewModels(t *testing.T) {
	combos := func(dims string) (appsPerTenant, modelsPerApp map[string]map[string]bool, keys int) {
		cfg := DefaultConfig()
		cfg.Events, cfg.Dims = 20_000, dims
		var r recorder
		clock := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		if _, err := Run(context.Background(), cfg, &r, pricing.MustDefault(), time.Time{}, 0, func() time.Time { return clock }); err != nil {
			t.Fatal(err)
		}
		appsPerTenant, modelsPerApp = map[string]map[string]bool{}, map[string]map[string]bool{}
		seen := map[string]bool{}
		for _, ev := range r.events {
			add(appsPerTenant, ev.Tenant, ev.App)
			add(modelsPerApp, ev.Tenant+"/"+ev.App, ev.Provider+"/"+ev.Model)
			seen[ev.Tenant+"/"+ev.App+"/"+ev.TaskType+"/"+ev.Provider+"/"+ev.Model] = true
		}
		return appsPerTenant, modelsPerApp, len(seen)
	}
	apps, models, realistic := combos(DimsRealistic)
	for what, m := range map[string]map[string]map[string]bool{"apps of tenant": apps, "models of tenant/app": models} {
		for k, set := range m {
			if len(set) < 1 || len(set) > 3 {
				t.Errorf("%s %s: %d, want 1 to 3", what, k, len(set))
			}
		}
	}
	_, _, random := combos(DimsRandom)
	if random < 10*realistic {
		t.Errorf("random dims made %d usage keys, realistic %d: want at least 10 times as many", random, realistic)
	}
	t.Logf("usage keys in 20,000 events: random %d, realistic %d", random, realistic)
}

func add(m map[string]map[string]bool, k, v string) {
	if m[k] == nil {
		m[k] = map[string]bool{}
	}
	m[k][v] = true
}

func TestUnknownDimsAreRefusedByName(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Dims = "correlated"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `dims must be random or realistic, got "correlated"`) {
		t.Fatalf("got %v", err)
	}
}
