package aggregate

import (
	"context"
	"testing"
	"time"

	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/schemas"
)

// A rolling deploy of a new price catalog: owners with catalogs A, B, B, A
// take the partition in turn. Each checkpoint records the catalog its
// partition was priced with and the first offset priced with it; an owner
// whose catalog differs from the checkpoint's reports the change once, with
// both fingerprints and the offset (the checkpoint's flushed_through).
// Stored costs are not restated: every event keeps the price of the owner
// that counted it.
func TestCatalogChangeIsRecordedInTheCheckpoint(t *testing.T) {
	msgs, wantRequests, _ := stream(8000, 29)
	cfg := DefaultConfig()
	catA := pricing.MustDefault()
	catB := pricing.MustDefault()
	overlay := `[{"id": "openai", "models": [{"id": "gpt-4o", "match": {"equals": "gpt-4o"}, "prices": {"input_mtok": 7, "output_mtok": 21}}]}]`
	if err := catB.AddOverlay("negotiated.json", []byte(overlay)); err != nil {
		t.Fatal(err)
	}
	if catA.Fingerprint() == catB.Fingerprint() {
		t.Fatalf("catalogs with different prices share the fingerprint %s", catA.Fingerprint())
	}
	st := newMemStore()
	ctx := context.Background()
	type turn struct {
		cat        *pricing.Catalog
		until      int64
		wantChange *catalogChange
		wantFrom   int64
	}
	a, b := catA.Fingerprint(), catB.Fingerprint()
	turns := []turn{
		{catA, 2500, nil, 0},
		{catB, 5000, &catalogChange{Previous: a, Current: b, From: 2500}, 2500},
		{catB, 6000, nil, 2500},
		{catA, int64(len(msgs)), &catalogChange{Previous: b, Current: a, From: 6000}, 6000},
	}
	pricedBy := make([]*pricing.Catalog, len(msgs))
	var off int64
	for i, tn := range turns {
		p := newPartition(0, &cfg, tn.cat)
		if st.ckpt != nil {
			p.restore(*st.ckpt)
		} else {
			p.startFresh(0)
		}
		off = p.next // replay from replay_from
		var change *catalogChange
		for ; off < tn.until; off++ {
			m := msgs[off]
			if !p.active && !p.replaying(m.Offset) {
				if err := p.activate(ctx, st, time.Now()); err != nil {
					t.Fatal(err)
				}
				change, p.catalogChange = p.catalogChange, nil
			}
			if p.process(&m) != outReplayed {
				pricedBy[off] = tn.cat
			}
			if off%700 == 699 || off == tn.until-1 {
				st.flush(t, ctx, p)
			}
		}
		if (change == nil) != (tn.wantChange == nil) || change != nil && *change != *tn.wantChange {
			t.Fatalf("owner %d: catalog change %+v, want %+v", i, change, tn.wantChange)
		}
		if c := st.ckpt; c.Catalog != tn.cat.Fingerprint() || c.CatalogFrom != tn.wantFrom {
			t.Fatalf("owner %d: checkpoint records catalog %q from offset %d, want %q from %d", i, c.Catalog, c.CatalogFrom, tn.cat.Fingerprint(), tn.wantFrom)
		}
	}
	// Every counted event keeps the price of the owner that counted it.
	var wantCost int64
	seen := map[string]bool{}
	var dec schemas.Decoder
	for i := range msgs {
		var ev schemas.Event
		if dec.Decode(msgs[i].Value, &ev) != nil || seen[ev.EventID] || ev.Time.Before(msgs[i].Time.Add(-cfg.CorrectionHorizon)) {
			continue
		}
		seen[ev.EventID] = true
		c, err := pricedBy[i].CostAt(usageOf(&ev), ev.Provider, ev.Model, ev.Time)
		if err != nil {
			t.Fatal(err)
		}
		wantCost += c.CostNanos
	}
	for _, table := range []string{"usage_rollup", "usage_daily_rollup"} {
		if req, cost, _, _ := st.usageTotals(table); req != wantRequests || cost != wantCost {
			t.Fatalf("%s: %d requests costing %d, want %d costing %d", table, req, cost, wantRequests, wantCost)
		}
	}
}

func usageOf(ev *schemas.Event) pricing.Usage {
	u := &ev.Usage
	return pricing.Usage{Input: u.InputTokens, Output: u.OutputTokens, CacheRead: u.CacheReadTokens,
		CacheWrite: u.CacheWriteTokens, CacheWrite1h: u.CacheWrite1hTokens, Reasoning: u.ReasoningTokens}
}
