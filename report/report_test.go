package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jevonsdev/jevons/analytics"
)

// story is three months where the price per token halves each month while
// tokens grow: the Jevons picture.
func story(t *testing.T) *analytics.Result {
	t.Helper()
	periods, err := analytics.Periods(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC), analytics.Month)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(tokens uint64, cost, ref int64, tasks uint64) analytics.Totals {
		return analytics.Totals{Requests: tasks * 3, Tasks: tasks, InputTokens: tokens * 3 / 4, OutputTokens: tokens / 4,
			CostNanos: cost, RefCostNanos: ref}
	}
	big := []analytics.Totals{mk(10_000_000, 30_000_000_001, 30_000_000_001, 100), mk(30_000_000, 45_000_000_000, 90_000_000_000, 200), mk(90_000_000, 67_500_000_123, 270_000_000_000, 400)}
	small := []analytics.Totals{mk(1_000_000, 1_000_000_000, 1_000_000_000, 50), mk(1_000_000, 900_000_000, 1_000_000_000, 50), mk(2_000_000, 1_500_000_000, 2_000_000_000, 60)}
	total := make([]analytics.Totals, 3)
	for i := range total {
		total[i] = big[i].Add(small[i])
	}
	total[2].UnpricedRequests, total[2].UnpricedTokens = 7, 7000
	total[2].InputTokens += 7000
	return &analytics.Result{
		Periods: periods, Totals: total,
		ByModel: []analytics.Series{{Key: "openai/gpt-4o", Totals: big}, {Key: "anthropic/claude-haiku-4-5", Totals: small}},
		ByTaskType: []analytics.TaskTypeSeries{
			{TaskType: "agent-run", Totals: big, Tasks: []analytics.TaskStats{{Ended: 90, MeanTokens: 1e5, MeanCostNanos: 3e8}, {Ended: 190}, {Ended: 380, Running: 20}}},
			{TaskType: "chat-turn", Totals: small, Tasks: make([]analytics.TaskStats, 3)},
		},
		UnpricedModels: []analytics.UnpricedModel{{Provider: "openai", Model: "acme-internal", Requests: 7, Tokens: 7000}},
	}
}

func TestDocumentFollowsTheJSONContract(t *testing.T) {
	doc := Build(story(t), analytics.Month)
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"from", "to", "by", "slice", "periods", "summary", "by_model", "by_task_type", "unpriced_models"} {
		if _, ok := m[k]; !ok {
			t.Errorf("top-level %q missing", k)
		}
	}
	p0 := m["periods"].([]any)[0].(map[string]any)
	for _, k := range []string{"start", "end", "requests", "tasks", "tokens", "input_tokens", "output_tokens", "cache_read_tokens",
		"cache_write_tokens", "reasoning_tokens", "cost_usd", "ref_cost_usd", "unit_cost_usd_per_mtok", "price_index",
		"mix_usd_per_mtok", "tokens_per_task", "cost_per_task_usd", "unpriced_requests"} {
		if _, ok := p0[k]; !ok {
			t.Errorf("period field %q missing", k)
		}
	}
	if p0["start"] != "2026-01-01" || p0["end"] != "2026-01-31" {
		t.Errorf("period 0 is %v..%v, want 2026-01-01..2026-01-31 (end inclusive)", p0["start"], p0["end"])
	}
	// Money is exact: nine decimals, no float rounding.
	if p0["cost_usd"] != "31.000000001" {
		t.Errorf("cost_usd %v, want the exact decimal 31.000000001", p0["cost_usd"])
	}
	sum := m["summary"].(map[string]any)
	for _, k := range []string{"usage_factor", "unit_cost_factor", "spend_factor", "price_factor", "mix_factor", "elasticity", "verdict", "decomposition_usd"} {
		if _, ok := sum[k]; !ok {
			t.Errorf("summary field %q missing", k)
		}
	}
	if sum["verdict"] != "usage growth outpaces unit-cost decline" {
		t.Errorf("verdict %v", sum["verdict"])
	}
	d := doc.Summary.Decomposition
	c := analytics.Compare(doc.periodsTotals(0), doc.periodsTotals(2)).Decomposition
	if got := strings.Join([]string{d.Volume, d.Mix, d.Price}, " "); got == "" || c.Total() != doc.Periods[2].CostNanos-doc.Periods[0].CostNanos {
		t.Errorf("decomposition %s does not add up", got)
	}
}

// periodsTotals rebuilds the additive figures of a period from the document.
func (d *Document) periodsTotals(i int) analytics.Totals {
	p := d.Periods[i]
	return analytics.Totals{InputTokens: p.InputTokens, OutputTokens: p.OutputTokens, CostNanos: p.CostNanos, RefCostNanos: p.RefCostNanos,
		UnpricedTokens: p.UnpricedTokens, UnpricedRequests: p.UnpricedRequests}
}

func TestTextTellsTheVerdictAndShowsUnpricedApart(t *testing.T) {
	var b bytes.Buffer
	if err := Text(&b, Build(story(t), analytics.Month)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"Usage growth outpaces unit-cost decline.", "2026-03-01", "31.00", "7 requests had no price", "openai/acme-internal: 7 requests"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
}

func TestEmptySliceSaysSo(t *testing.T) {
	res := story(t)
	for i := range res.Totals {
		res.Totals[i] = analytics.Totals{}
	}
	res.ByModel, res.ByTaskType, res.UnpricedModels = nil, nil, nil
	doc := Build(res, analytics.Month)
	if !doc.Empty || doc.Summary.Verdict != "no change" {
		t.Fatalf("empty %v verdict %q", doc.Empty, doc.Summary.Verdict)
	}
	var b bytes.Buffer
	if err := Text(&b, doc); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "No requests match this slice") {
		t.Fatalf("text: %s", b.String())
	}
	b.Reset()
	if err := HTML(&b, doc); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "No requests match this slice") || strings.Contains(b.String(), "<svg") {
		t.Fatalf("html of an empty report draws charts or hides that it is empty")
	}
}
