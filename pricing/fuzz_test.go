package pricing

import (
	"testing"
	"time"
)

func FuzzCostAt(f *testing.F) {
	c := MustDefault()
	f.Add(int64(1000), int64(10), int64(5), int64(2), int64(500), int64(100), "anthropic", "claude-opus-4-6", int64(1780000000))
	f.Add(int64(-1), int64(0), int64(0), int64(0), int64(0), int64(0), "x", "", int64(0))
	f.Fuzz(func(t *testing.T, in, cr, cw, cw1h, out, rs int64, provider, model string, unix int64) {
		u := Usage{Input: in, CacheRead: cr, CacheWrite: cw, CacheWrite1h: cw1h, Output: out, Reasoning: rs}
		r, err := c.CostAt(u, provider, model, time.Unix(unix, 0))
		if err == nil && r.CostNanos < 0 {
			t.Fatalf("negative cost %d for %+v", r.CostNanos, u)
		}
		if err == nil && u.Validate() != nil {
			t.Fatal("invalid usage priced")
		}
	})
}

func FuzzCatalogParse(f *testing.F) {
	f.Add([]byte(`[{"id":"p","models":[{"id":"m","match":{"regex":"^a(?!b)"},"prices":{"input_mtok":{"base":1,"tiers":[{"start":5,"price":2}]}}}]}]`), false)
	f.Add([]byte("- id: p\n  models:\n    - id: m\n      match: {equals: m}\n      prices: {input_mtok: 1e-3}\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, yaml bool) {
		c := MustDefault()
		name := "fuzz.json"
		if yaml {
			name = "fuzz.yaml"
		}
		if err := c.AddOverlay(name, data); err != nil {
			return
		}
		_, _ = c.CostAt(Usage{Input: 300_000, CacheRead: 1, Output: 2}, "p", "m", time.Unix(0, 0))
	})
}
