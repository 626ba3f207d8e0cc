package pricing

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func loadTestCatalog(t testing.TB) *Catalog {
	t.Helper()
	c, err := Load(filepath.Join("testdata", "overlay.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Expectations are computed by hand from the catalog's per-million-token
// prices: cost in nanos = tokens × price × 1000.
func TestCostAt(t *testing.T) {
	c := loadTestCatalog(t)
	tests := []struct {
		name            string
		provider, model string
		usage           Usage
		at              string
		wantNanos       int64
		wantModel       string
		wantFrom        string // "" means undated
		wantTier        int64  // -1 means no tier
	}{
		{"plain input and output are priced at the model's rates (openai, default catalog)",
			"openai", "gpt-4o-2024-11-20", Usage{Input: 1000, Output: 500}, "2025-06-01T12:00:00Z",
			1000*2500 + 500*10000, "gpt-4o", "", -1},
		{"cache reads are carved out of input at the cache-read rate",
			"openai", "gpt-4o-2024-11-20", Usage{Input: 10000, CacheRead: 4000}, "2025-06-01T12:00:00Z",
			6000*2500 + 4000*1250, "gpt-4o", "", -1},
		{"cache reads, 5-minute and 1-hour cache writes each at their own rate (anthropic)",
			"anthropic", "claude-3-5-sonnet-20241022", Usage{Input: 10000, CacheRead: 2000, CacheWrite: 3000, CacheWrite1h: 1000, Output: 1000}, "2025-06-01T12:00:00Z",
			5000*3000 + 2000*300 + 2000*3750 + 1000*6000 + 1000*15000, "claude-3-5-sonnet", "", -1},
		{"cache writes on a model without a cache-write price cost the input price (deepseek, off-peak)",
			"deepseek", "deepseek-chat", Usage{Input: 1_000_000, CacheRead: 300_000, CacheWrite: 200_000, Output: 100_000}, "2025-06-01T20:00:00Z",
			500_000*135 + 300_000*35 + 200_000*135 + 100_000*550, "deepseek-chat", "", -1},
		{"a time_of_date range includes its start (deepseek peak from 00:30 UTC)",
			"deepseek", "deepseek-chat", Usage{Input: 1_000_000, CacheRead: 300_000, CacheWrite: 200_000, Output: 100_000}, "2025-06-01T00:30:00Z",
			500_000*270 + 300_000*70 + 200_000*270 + 100_000*1100, "deepseek-chat", "", -1},
		{"a time_of_date range excludes its end (deepseek off-peak again at 16:30 UTC)",
			"deepseek", "deepseek-chat", Usage{Input: 1_000_000, Output: 100_000}, "2025-06-01T16:30:00Z",
			1_000_000*135 + 100_000*550, "deepseek-chat", "", -1},
		{"one second before a time_of_date end is still inside the range",
			"deepseek", "deepseek-chat", Usage{Input: 1_000_000, Output: 100_000}, "2025-06-01T16:29:59Z",
			1_000_000*270 + 100_000*1100, "deepseek-chat", "", -1},
		{"input exactly at a tier start stays on the base price (google)",
			"gcp.gemini", "gemini-2.5-pro", Usage{Input: 200_000, Output: 1000}, "2025-06-01T12:00:00Z",
			200_000*1250 + 1000*10000, "gemini-2.5-pro", "", -1},
		{"one input token above a tier start moves every kind to the tier price",
			"gcp.gemini", "gemini-2.5-pro", Usage{Input: 200_001, Output: 1000}, "2025-06-01T12:00:00Z",
			200_001*2500 + 1000*15000, "gemini-2.5-pro", "", 200_000},
		{"the day before a start_date uses the earlier (tiered) prices",
			"anthropic", "claude-opus-4-6", Usage{Input: 300_000, Output: 1000}, "2026-03-12T23:59:59Z",
			300_000*10000 + 1000*37500, "claude-opus-4-6", "", 200_000},
		{"the day of a start_date uses the new prices",
			"anthropic", "claude-opus-4-6", Usage{Input: 300_000, Output: 1000}, "2026-03-13T00:00:00Z",
			300_000*5000 + 1000*25000, "claude-opus-4-6", "2026-03-13", -1},
		{"reasoning tokens are priced separately where the model prices them",
			"perplexity", "sonar-deep-research", Usage{Input: 1000, Output: 3000, Reasoning: 2000}, "2025-06-01T12:00:00Z",
			1000*2000 + 1000*8000 + 2000*3000, "sonar-deep-research", "", -1},
		{"reasoning tokens cost the output price where the model has no reasoning price",
			"openai", "gpt-4o-2024-11-20", Usage{Input: 0, Output: 3000, Reasoning: 2000}, "2025-06-01T12:00:00Z",
			3000 * 10000, "gpt-4o", "", -1},
		{"an overlay overrides the default: gpt-4o at its 2024 launch price",
			"openai", "gpt-4o", Usage{Input: 1_000_000, Output: 1_000_000}, "2024-06-01T00:00:00Z",
			5_000_000_000 + 15_000_000_000, "gpt-4o", "2024-05-13", -1},
		{"an overlay's later start_date applies from that day",
			"openai", "gpt-4o", Usage{Input: 1_000_000, Output: 1_000_000}, "2024-08-06T00:00:00Z",
			2_500_000_000 + 10_000_000_000, "gpt-4o", "2024-08-06", -1},
		{"before a model's first known price, its first known price applies",
			"openai", "gpt-4o", Usage{Input: 1_000_000, Output: 1_000_000}, "2023-01-01T00:00:00Z",
			5_000_000_000 + 15_000_000_000, "gpt-4o", "2024-05-13", -1},
		{"models the overlay does not match still come from the default catalog",
			"openai", "gpt-4o-2024-11-20", Usage{Input: 1_000_000}, "2024-06-01T00:00:00Z",
			2_500_000_000, "gpt-4o", "", -1},
		{"a half nano-dollar rounds to even (down to 0)",
			"acme", "acme-tiny", Usage{Input: 1}, "2025-01-01T00:00:00Z", 0, "acme-tiny", "", -1},
		{"a half nano-dollar rounds to even (up to 2)",
			"acme", "acme-tiny", Usage{Input: 3}, "2025-01-01T00:00:00Z", 2, "acme-tiny", "", -1},
		{"two and a half nano-dollars round to even (down to 2)",
			"acme", "acme-tiny", Usage{Input: 5}, "2025-01-01T00:00:00Z", 2, "acme-tiny", "", -1},
		{"a provider unknown to OpenTelemetry is found by its own match rules",
			"acme-cloud", "acme-tiny-2", Usage{Input: 3000}, "2025-01-01T00:00:00Z", 1500, "acme-tiny", "", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := c.CostAt(tt.usage, tt.provider, tt.model, at(tt.at))
			if err != nil {
				t.Fatal(err)
			}
			if !r.Priced || r.CostNanos != tt.wantNanos || r.ModelID != tt.wantModel {
				t.Fatalf("got priced=%v cost=%d model=%q, want cost=%d model=%q", r.Priced, r.CostNanos, r.ModelID, tt.wantNanos, tt.wantModel)
			}
			from := ""
			if !r.PriceFrom.IsZero() {
				from = r.PriceFrom.Format(time.DateOnly)
			}
			if from != tt.wantFrom {
				t.Errorf("price_from = %q, want %q", from, tt.wantFrom)
			}
			tier := int64(-1)
			if r.Tiered {
				tier = r.TierStart
			}
			if tier != tt.wantTier {
				t.Errorf("tier = %d, want %d", tier, tt.wantTier)
			}
		})
	}
}

func TestUnknownModelIsUnpricedAndListed(t *testing.T) {
	c := loadTestCatalog(t)
	for range 3 {
		r, err := c.CostAt(Usage{Input: 100, Output: 10}, "openai", "gpt-99-imaginary", at("2025-01-01T00:00:00Z"))
		if err != nil {
			t.Fatal(err)
		}
		if r.Priced || r.CostNanos != 0 {
			t.Fatalf("unknown model: got priced=%v cost=%d", r.Priced, r.CostNanos)
		}
	}
	got := c.Unknown()
	if len(got) != 1 || got[0] != (UnknownModel{"openai", "gpt-99-imaginary", 3}) {
		t.Fatalf("Unknown() = %+v", got)
	}
}

func TestInvalidUsageIsAnError(t *testing.T) {
	c := loadTestCatalog(t)
	tests := []struct {
		name  string
		usage Usage
		want  string
	}{
		{"cache reads and writes above input", Usage{Input: 10, CacheRead: 6, CacheWrite: 5}, "exceed input_tokens"},
		{"1-hour cache writes above cache writes", Usage{Input: 10, CacheWrite: 2, CacheWrite1h: 3}, "cache_write_1h_tokens (3) exceed"},
		{"reasoning above output", Usage{Output: 1, Reasoning: 2}, "reasoning_tokens (2) exceed"},
		{"a negative count", Usage{Input: -1}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.CostAt(tt.usage, "openai", "gpt-4o", at("2025-01-01T00:00:00Z"))
			var ue *UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a usage error containing %q", err, tt.want)
			}
		})
	}
}

func TestInvalidCatalogReportsEveryProblem(t *testing.T) {
	_, err := Load(filepath.Join("testdata", "invalid.json"), filepath.Join("testdata", "missing.yaml"))
	if err == nil {
		t.Fatal("invalid catalog loaded")
	}
	for _, want := range []string{
		"model unknown-key: prices.inptu_mtok: unknown price key",
		"model negative: prices.input_mtok: negative value",
		"model bad-regex: match: regex",
		"model overlapping-dates: prices[1].constraint.start_date: dates overlap",
		"model tiers-not-increasing: prices.input_mtok: tiers[1].start: tier starts not increasing",
		"missing.yaml",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestEmbeddedCatalogIsComplete(t *testing.T) {
	c := MustDefault()
	models := 0
	for _, p := range c.Providers() {
		models += len(p.Models)
	}
	if len(c.Providers()) != 43 || models != 1694 {
		t.Fatalf("embedded catalog has %d providers and %d models, want 43 and 1694", len(c.Providers()), models)
	}
}

// The fast 128-bit path and the big-integer path must agree everywhere.
func TestFastPathMatchesBigIntegers(t *testing.T) {
	c := MustDefault()
	usages := []Usage{{Input: 1}, {Input: 999_999_999, CacheRead: 333_333_333, CacheWrite: 3, CacheWrite1h: 1, Output: 1_000_000_000, Reasoning: 7}, {Input: 200_001, Output: 12345}}
	for _, p := range c.Providers() {
		for _, m := range p.Models {
			for i := range m.sets {
				s := &m.sets[i]
				if s.fast == nil {
					continue
				}
				for _, u := range usages {
					lvl := s.level(u.Input)
					parts := u.parts()
					fast, ok1 := costFast(&s.fast[lvl], &parts, pow10[s.scale-3])
					slow, ok2 := s.costSlow(lvl, parts)
					if fast != slow || ok1 != ok2 {
						t.Fatalf("%s/%s set %d usage %+v: fast %d (%v), slow %d (%v)", p.ID, m.ID, i, u, fast, ok1, slow, ok2)
					}
				}
			}
		}
	}
}

func TestCostPairEqualsTwoCostAtCalls(t *testing.T) {
	c := loadTestCatalog(t)
	u := Usage{Input: 300_000, CacheRead: 1000, Output: 2000}
	for _, q := range [][3]string{
		{"anthropic", "claude-opus-4-6", "2026-03-13T05:00:00Z"}, // dated change between the instants
		{"openai", "gpt-4o", "2024-09-01T00:00:00Z"},             // overlay history
		{"deepseek", "deepseek-chat", "2025-06-01T01:00:00Z"},    // time of day
		{"openai", "gpt-4o-mini", "2025-06-01T01:00:00Z"},        // one price set
	} {
		tm := at(q[2])
		for _, ref := range []time.Time{{}, ReferenceTime(at("2024-06-01T00:00:00Z"), tm)} {
			a, b, err := c.CostPair(u, q[0], q[1], tm, ref)
			if err != nil {
				t.Fatal(err)
			}
			a2, _ := c.CostAt(u, q[0], q[1], tm)
			b2, _ := c.CostAt(u, q[0], q[1], ref)
			if a != a2 || b != b2 {
				t.Fatalf("%v at %v ref %v: pair %+v %+v, separately %+v %+v", q, tm, ref, a, b, a2, b2)
			}
		}
	}
}

// The match cache and the unknown-model counts keep copies of the strings
// they are given: a caller's may point into a buffer it then reuses. When
// the cache kept the caller's, a key overwritten in place was filed under
// its new bytes once the cache grew, and another model got its match.
func TestTheCatalogKeepsItsOwnCopiesOfNames(t *testing.T) {
	c := MustDefault()
	buf := []byte("gpt-4o")
	model := unsafe.String(&buf[0], len(buf))
	want := c.Match("openai", model) // the first match of gpt-4o: the cache adds it
	if want == nil {
		t.Fatal("gpt-4o does not match")
	}
	_, _ = c.CostAt(Usage{Input: 1}, "openai", model+"-unknown", time.Time{})
	unknown := []byte("not-a-model")
	_, _ = c.CostAt(Usage{Input: 1}, "openai", unsafe.String(&unknown[0], len(unknown)), time.Time{})
	copy(buf, "o3-pro")
	copy(unknown, "xxxxxxxxxxx")
	for i := range 32 { // the cache grows past its first group: every key is filed again
		c.Match("openai", fmt.Sprint("not-a-model-", i))
	}
	if m := c.Match("openai", "o3-pro"); m == want {
		t.Fatal("o3-pro matched gpt-4o's model: the cache kept the caller's bytes")
	}
	if got := fmt.Sprint(c.Unknown()); !strings.Contains(got, "not-a-model ") || strings.Contains(got, "xxx") {
		t.Fatalf("unknown models %s: want not-a-model counted under its own name", got)
	}
}
