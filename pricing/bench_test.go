package pricing

import (
	"strconv"
	"testing"
)

func BenchmarkCostCachedMatch(b *testing.B) {
	c := MustDefault()
	u := Usage{Input: 12_000, CacheRead: 8_000, Output: 900, Reasoning: 300}
	t := at("2025-06-01T12:00:00Z")
	if _, err := c.CostAt(u, "anthropic", "claude-sonnet-4-5-20250929", t); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.CostAt(u, "anthropic", "claude-sonnet-4-5-20250929", t); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFirstLookupUncachedModel(b *testing.B) {
	c := MustDefault()
	names := make([]string, b.N)
	for i := range names {
		names[i] = "gemini-2.5-pro-preview-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if c.Match("gcp.gemini", names[i]) == nil {
			b.Fatal("no match")
		}
	}
}
