package report

import (
	"math"
	"time"

	"github.com/jevonsdev/jevons/analytics"
	"github.com/jevonsdev/jevons/pricing"
)

// Document is the JSON contract of `jevons report --format json`. Money is
// a decimal USD string with nine places (exact nano-dollars); ratios are
// numbers, or null when not defined. Period start and end are dates of the
// report's time zone (tz, an IANA name; UTC unless --tz), end inclusive.
type Document struct {
	From           string                    `json:"from"`
	To             string                    `json:"to"`
	By             string                    `json:"by"`
	TZ             string                    `json:"tz"`
	Slice          analytics.Slice           `json:"slice"`
	Empty          bool                      `json:"empty"`
	Note           string                    `json:"note,omitempty"`
	Periods        []PeriodFigures           `json:"periods"`
	Summary        Summary                   `json:"summary"`
	ByModel        []ModelSeries             `json:"by_model"`
	ByTaskType     []TaskTypeSeries          `json:"by_task_type"`
	UnpricedModels []analytics.UnpricedModel `json:"unpriced_models"`
}

// PeriodFigures are one period's figures.
type PeriodFigures struct {
	Start              string           `json:"start"`
	End                string           `json:"end"`
	Requests           uint64           `json:"requests"`
	Tasks              uint64           `json:"tasks"`
	Tokens             uint64           `json:"tokens"`
	InputTokens        uint64           `json:"input_tokens"`
	OutputTokens       uint64           `json:"output_tokens"`
	CacheReadTokens    uint64           `json:"cache_read_tokens"`
	CacheWriteTokens   uint64           `json:"cache_write_tokens"`
	ReasoningTokens    uint64           `json:"reasoning_tokens"`
	CostUSD            string           `json:"cost_usd"`
	RefCostUSD         string           `json:"ref_cost_usd"`
	UnitCostUSDPerMtok analytics.Factor `json:"unit_cost_usd_per_mtok"`
	PriceIndex         analytics.Factor `json:"price_index"`
	MixUSDPerMtok      analytics.Factor `json:"mix_usd_per_mtok"`
	TokensPerTask      analytics.Factor `json:"tokens_per_task"`
	CostPerTaskUSD     *string          `json:"cost_per_task_usd"`
	UnpricedRequests   uint64           `json:"unpriced_requests"`
	UnpricedTokens     uint64           `json:"unpriced_tokens"`
	PricedTokens       uint64           `json:"priced_tokens"`
	CostNanos          int64            `json:"cost_nanos"`
	RefCostNanos       int64            `json:"ref_cost_nanos"`
}

// Summary compares the first period with the last.
type Summary struct {
	UsageFactor      analytics.Factor `json:"usage_factor"`
	UnitCostFactor   analytics.Factor `json:"unit_cost_factor"`
	SpendFactor      analytics.Factor `json:"spend_factor"`
	PriceFactor      analytics.Factor `json:"price_factor"`
	MixFactor        analytics.Factor `json:"mix_factor"`
	Elasticity       analytics.Factor `json:"elasticity"`
	Verdict          string           `json:"verdict"`
	Decomposition    Decomposition    `json:"decomposition_usd"`
	DecompositionFor string           `json:"decomposition_note,omitempty"`
}

// Decomposition is the LMDI split of the change in spend, in USD.
type Decomposition struct {
	Volume string `json:"volume"`
	Mix    string `json:"mix"`
	Price  string `json:"price"`
}

// ModelSeries is one provider/model over the periods.
type ModelSeries struct {
	Provider string          `json:"provider"`
	Model    string          `json:"model"`
	Periods  []PeriodFigures `json:"periods"`
	Summary  Summary         `json:"summary"`
}

// TaskTypeSeries is one task type over the periods, with the distribution
// of whole tasks that ended in each period.
type TaskTypeSeries struct {
	TaskType string           `json:"task_type"`
	Periods  []TaskTypePeriod `json:"periods"`
	Summary  Summary          `json:"summary"`
}

// TaskTypePeriod adds the per-task distribution to a period's figures.
type TaskTypePeriod struct {
	PeriodFigures
	TasksEnded        uint64  `json:"tasks_ended"`
	TasksRunning      uint64  `json:"tasks_running"`
	EndedTokensMean   float64 `json:"ended_tokens_per_task_mean"`
	EndedTokensP50    float64 `json:"ended_tokens_per_task_p50"`
	EndedTokensP95    float64 `json:"ended_tokens_per_task_p95"`
	EndedRequestsMean float64 `json:"ended_requests_per_task_mean"`
	EndedCostMeanUSD  string  `json:"ended_cost_per_task_mean_usd"`
	EndedCostP50USD   string  `json:"ended_cost_per_task_p50_usd"`
	EndedCostP95USD   string  `json:"ended_cost_per_task_p95_usd"`
}

// Build turns a Result into the Document.
func Build(res *analytics.Result, by analytics.Granularity) *Document {
	p := res.Periods
	d := &Document{
		From: date(p[0].Start), To: date(p[len(p)-1].End.Add(-time.Nanosecond)), By: string(by), TZ: p[0].Start.Location().String(),
		Slice: res.Slice, Empty: res.Empty(),
		Periods:        figures(res.Periods, res.Totals),
		Summary:        summary(res.Summary()),
		ByModel:        []ModelSeries{},
		ByTaskType:     []TaskTypeSeries{},
		UnpricedModels: res.UnpricedModels,
	}
	if d.UnpricedModels == nil {
		d.UnpricedModels = []analytics.UnpricedModel{}
	}
	if d.Empty {
		d.Note = "no requests match this slice in the range"
	}
	for _, m := range res.ByModel {
		provider, model := splitKey(m.Key)
		d.ByModel = append(d.ByModel, ModelSeries{Provider: provider, Model: model, Periods: figures(p, m.Totals),
			Summary: summary(analytics.Compare(m.Totals[0], m.Totals[len(m.Totals)-1]))})
	}
	for _, tt := range res.ByTaskType {
		s := TaskTypeSeries{TaskType: tt.TaskType, Summary: summary(analytics.Compare(tt.Totals[0], tt.Totals[len(tt.Totals)-1]))}
		for i, f := range figures(p, tt.Totals) {
			st := tt.Tasks[i]
			s.Periods = append(s.Periods, TaskTypePeriod{PeriodFigures: f, TasksEnded: st.Ended, TasksRunning: st.Running,
				EndedTokensMean: st.MeanTokens, EndedTokensP50: st.P50Tokens, EndedTokensP95: st.P95Tokens,
				EndedRequestsMean: st.MeanRequests, EndedCostMeanUSD: usdFloat(st.MeanCostNanos),
				EndedCostP50USD: usdFloat(st.P50CostNanos), EndedCostP95USD: usdFloat(st.P95CostNanos)})
		}
		d.ByTaskType = append(d.ByTaskType, s)
	}
	return d
}

func splitKey(k string) (string, string) {
	for i := range k {
		if k[i] == '/' {
			return k[:i], k[i+1:]
		}
	}
	return "", k
}

// date is t's date in its own time zone, the report's.
func date(t time.Time) string { return t.Format(time.DateOnly) }

// usdFloat renders a derived amount (a mean, a quantile) rounded to the
// nano-dollar.
func usdFloat(nanos float64) string { return pricing.FormatNanos(int64(math.Round(nanos))) }

func figures(periods []analytics.Period, totals []analytics.Totals) []PeriodFigures {
	out := make([]PeriodFigures, len(periods))
	for i, per := range periods {
		t := totals[i]
		f := PeriodFigures{
			Start: date(per.Start), End: date(per.End.Add(-time.Nanosecond)),
			Requests: t.Requests, Tasks: t.Tasks, Tokens: t.Tokens(), InputTokens: t.InputTokens, OutputTokens: t.OutputTokens,
			CacheReadTokens: t.CacheReadTokens, CacheWriteTokens: t.CacheWriteTokens, ReasoningTokens: t.ReasoningTokens,
			CostUSD: pricing.FormatNanos(t.CostNanos), RefCostUSD: pricing.FormatNanos(t.RefCostNanos),
			UnitCostUSDPerMtok: t.UnitCost(), PriceIndex: t.PriceIndex(), MixUSDPerMtok: t.MixIntensity(),
			TokensPerTask: t.TokensPerTask(), UnpricedRequests: t.UnpricedRequests, UnpricedTokens: t.UnpricedTokens,
			PricedTokens: t.PricedTokens(), CostNanos: t.CostNanos, RefCostNanos: t.RefCostNanos,
		}
		if c := t.CostPerTaskNanos(); c.Defined {
			s := usdFloat(c.Value)
			f.CostPerTaskUSD = &s
		}
		out[i] = f
	}
	return out
}

func summary(c analytics.Comparison) Summary {
	return Summary{
		UsageFactor: c.UsageFactor, UnitCostFactor: c.UnitCostFactor, SpendFactor: c.SpendFactor,
		PriceFactor: c.PriceFactor, MixFactor: c.MixFactor, Elasticity: c.Elasticity, Verdict: string(c.Verdict),
		Decomposition: Decomposition{
			Volume: pricing.FormatNanos(c.Decomposition.VolumeNanos),
			Mix:    pricing.FormatNanos(c.Decomposition.MixNanos),
			Price:  pricing.FormatNanos(c.Decomposition.PriceNanos),
		},
		DecompositionFor: c.Decomposition.Note,
	}
}
