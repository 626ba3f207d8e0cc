package analytics

// Totals are the additive figures of one slice over one period. Money is in
// integer nano-dollars. Token kinds count every request, priced or not;
// UnpricedTokens is the part of Tokens() that belongs to requests without a
// price, which the economics leave out of Q.
type Totals struct {
	Requests           uint64 `json:"requests"`
	Tasks              uint64 `json:"tasks"`
	InputTokens        uint64 `json:"input_tokens"`
	OutputTokens       uint64 `json:"output_tokens"`
	CacheReadTokens    uint64 `json:"cache_read_tokens"`
	CacheWriteTokens   uint64 `json:"cache_write_tokens"`
	CacheWrite1hTokens uint64 `json:"cache_write_1h_tokens"`
	ReasoningTokens    uint64 `json:"reasoning_tokens"`
	CostNanos          int64  `json:"cost_nanos"`
	RefCostNanos       int64  `json:"ref_cost_nanos"`
	UnpricedRequests   uint64 `json:"unpriced_requests"`
	UnpricedTokens     uint64 `json:"unpriced_tokens"`
}

// Tokens is input + output: input includes cache reads and writes, output
// includes reasoning.
func (t Totals) Tokens() uint64 { return t.InputTokens + t.OutputTokens }

// PricedTokens is Q: the tokens of requests that have a price.
func (t Totals) PricedTokens() uint64 {
	if t.UnpricedTokens > t.Tokens() {
		return 0
	}
	return t.Tokens() - t.UnpricedTokens
}

// Add returns the sum of two disjoint totals. Tasks add too, which is right
// only when the two sides hold different tasks (different periods' tasks are
// counted by the period they belong to, not merged).
func (t Totals) Add(o Totals) Totals {
	t.Requests += o.Requests
	t.Tasks += o.Tasks
	t.InputTokens += o.InputTokens
	t.OutputTokens += o.OutputTokens
	t.CacheReadTokens += o.CacheReadTokens
	t.CacheWriteTokens += o.CacheWriteTokens
	t.CacheWrite1hTokens += o.CacheWrite1hTokens
	t.ReasoningTokens += o.ReasoningTokens
	t.CostNanos += o.CostNanos
	t.RefCostNanos += o.RefCostNanos
	t.UnpricedRequests += o.UnpricedRequests
	t.UnpricedTokens += o.UnpricedTokens
	return t
}

// UnitCost is u = C/Q in USD per million tokens; not defined without priced
// tokens.
func (t Totals) UnitCost() Factor {
	q := t.PricedTokens()
	if q == 0 {
		return undefined("no priced tokens")
	}
	return defined(float64(t.CostNanos) / 1e3 / float64(q))
}

// PriceIndex is pi = C/R; not defined without reference cost.
func (t Totals) PriceIndex() Factor {
	if t.RefCostNanos == 0 {
		return undefined("no reference cost")
	}
	return defined(float64(t.CostNanos) / float64(t.RefCostNanos))
}

// MixIntensity is m = R/Q in reference USD per million tokens; not defined
// without priced tokens.
func (t Totals) MixIntensity() Factor {
	q := t.PricedTokens()
	if q == 0 {
		return undefined("no priced tokens")
	}
	return defined(float64(t.RefCostNanos) / 1e3 / float64(q))
}

// TokensPerTask, RequestsPerTask and CostPerTaskNanos divide by T; not
// defined without tasks.
func (t Totals) TokensPerTask() Factor { return perTask(float64(t.Tokens()), t.Tasks) }

// RequestsPerTask is N/T.
func (t Totals) RequestsPerTask() Factor { return perTask(float64(t.Requests), t.Tasks) }

// CostPerTaskNanos is C/T in nano-dollars.
func (t Totals) CostPerTaskNanos() Factor { return perTask(float64(t.CostNanos), t.Tasks) }

func perTask(v float64, tasks uint64) Factor {
	if tasks == 0 {
		return undefined("no tasks")
	}
	return defined(v / float64(tasks))
}
