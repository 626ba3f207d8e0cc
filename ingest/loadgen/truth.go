package loadgen

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/schemas"
)

// Totals are exact sums over events.
type Totals struct {
	Requests           int64 `json:"requests"`
	InputTokens        int64 `json:"input_tokens"`
	OutputTokens       int64 `json:"output_tokens"`
	CacheReadTokens    int64 `json:"cache_read_tokens"`
	CacheWriteTokens   int64 `json:"cache_write_tokens"`
	CacheWrite1hTokens int64 `json:"cache_write_1h_tokens"`
	ReasoningTokens    int64 `json:"reasoning_tokens"`
	CostNanos          int64 `json:"cost_nanos"`
	RefCostNanos       int64 `json:"ref_cost_nanos"`
	UnpricedRequests   int64 `json:"unpriced_requests"`
	LatencyMsSum       int64 `json:"latency_ms_sum"`
}

// TaskTotals are one task's exact sums.
type TaskTotals struct {
	Requests  int64 `json:"requests"`
	Tokens    int64 `json:"tokens"` // input + output
	CostNanos int64 `json:"cost_nanos"`
	Done      bool  `json:"done"`
}

// Truth is what the pipeline's views must equal after consuming the traffic.
type Truth struct {
	Seed                uint64                 `json:"seed"`
	Messages            int64                  `json:"messages"`                         // every message produced
	Events              int64                  `json:"events"`                           // distinct events the views must count
	Duplicates          int64                  `json:"duplicates"`                       // extra copies that must count once
	Bad                 int64                  `json:"bad"`                              // malformed messages
	TooOld              int64                  `json:"too_old"`                          // events beyond the correction horizon
	Late                int64                  `json:"late"`                             // events sent with a past time (counted)
	DeadLetters         int64                  `json:"dead_letters"`                     // bad + too old: the DLQ must hold exactly these
	ReferenceDate       string                 `json:"reference_date"`                   // "" = first known prices
	Totals              Totals                 `json:"totals"`                           // over all counted events
	ByTenant            map[string]*Totals     `json:"by_tenant"`                        // tenant -> totals
	ByModel             map[string]*Totals     `json:"by_model"`                         // provider/model -> totals
	Tasks               map[string]*TaskTotals `json:"tasks"`                            // tenant/task_id -> totals
	ByDay               map[string]*Totals     `json:"by_day,omitempty"`                 // UTC date -> totals (story scenario)
	TasksByDay          map[string]int64       `json:"tasks_by_day,omitempty"`           // UTC date -> tasks with a request that day (story scenario)
	UnpricedTokensByDay map[string]int64       `json:"unpriced_tokens_by_day,omitempty"` // UTC date -> tokens of unpriced requests (story scenario)
	catalog             *pricing.Catalog
	refDate             time.Time
}

func newTruth(seed uint64, cat *pricing.Catalog, refDate time.Time) *Truth {
	t := &Truth{Seed: seed, ByTenant: map[string]*Totals{}, ByModel: map[string]*Totals{}, Tasks: map[string]*TaskTotals{}, catalog: cat, refDate: refDate}
	if !refDate.IsZero() {
		t.ReferenceDate = refDate.Format(time.DateOnly)
	}
	return t
}

// add counts one distinct valid event, priced as the aggregator prices it.
func (t *Truth) add(ev *schemas.Event) error {
	u := pricing.Usage{Input: ev.Usage.InputTokens, Output: ev.Usage.OutputTokens, CacheRead: ev.Usage.CacheReadTokens,
		CacheWrite: ev.Usage.CacheWriteTokens, CacheWrite1h: ev.Usage.CacheWrite1hTokens, Reasoning: ev.Usage.ReasoningTokens}
	cost, err := t.catalog.CostAt(u, ev.Provider, ev.Model, ev.Time)
	if err != nil {
		return fmt.Errorf("price %s: %w", ev.EventID, err)
	}
	ref, err := t.catalog.CostAt(u, ev.Provider, ev.Model, pricing.ReferenceTime(t.refDate, ev.Time))
	if err != nil {
		return fmt.Errorf("reference price %s: %w", ev.EventID, err)
	}
	t.Events++
	one := Totals{Requests: 1, InputTokens: u.Input, OutputTokens: u.Output, CacheReadTokens: u.CacheRead,
		CacheWriteTokens: u.CacheWrite, CacheWrite1hTokens: u.CacheWrite1h, ReasoningTokens: u.Reasoning,
		CostNanos: cost.CostNanos, RefCostNanos: ref.CostNanos, LatencyMsSum: ev.LatencyMs}
	if !cost.Priced {
		one.UnpricedRequests = 1
	}
	t.Totals.add(&one)
	bucket(t.ByTenant, ev.Tenant).add(&one)
	bucket(t.ByModel, ev.Provider+"/"+ev.Model).add(&one)
	t.task(ev.Key()).add(&TaskTotals{Requests: 1, Tokens: u.Input + u.Output, CostNanos: cost.CostNanos, Done: ev.TaskDone})
	return nil
}

func bucket(m map[string]*Totals, k string) *Totals {
	if m[k] == nil {
		m[k] = &Totals{}
	}
	return m[k]
}

// Write stores the truth as indented JSON.
func (t *Truth) Write(path string) error {
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadTruth loads a truth file.
func ReadTruth(path string) (*Truth, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var t Truth
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("parse truth %s: %w", path, err)
	}
	return &t, nil
}

// Keys returns a map's keys sorted, for stable comparisons and output.
func Keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Merge adds another run's truth (a different seed, so distinct events and
// tasks) to t.
func (t *Truth) Merge(o *Truth) {
	t.Messages += o.Messages
	t.Events += o.Events
	t.Duplicates += o.Duplicates
	t.Bad += o.Bad
	t.TooOld += o.TooOld
	t.Late += o.Late
	t.DeadLetters += o.DeadLetters
	t.Totals.add(&o.Totals)
	for k, v := range o.ByTenant {
		bucket(t.ByTenant, k).add(v)
	}
	for k, v := range o.ByModel {
		bucket(t.ByModel, k).add(v)
	}
	for k, v := range o.Tasks {
		t.task(k).add(v)
	}
}

func (t *Truth) task(key string) *TaskTotals {
	if t.Tasks[key] == nil {
		t.Tasks[key] = &TaskTotals{}
	}
	return t.Tasks[key]
}

func (a *TaskTotals) add(b *TaskTotals) {
	a.Requests += b.Requests
	a.Tokens += b.Tokens
	a.CostNanos += b.CostNanos
	a.Done = a.Done || b.Done
}

func (a *Totals) add(b *Totals) {
	a.Requests += b.Requests
	a.InputTokens += b.InputTokens
	a.OutputTokens += b.OutputTokens
	a.CacheReadTokens += b.CacheReadTokens
	a.CacheWriteTokens += b.CacheWriteTokens
	a.CacheWrite1hTokens += b.CacheWrite1hTokens
	a.ReasoningTokens += b.ReasoningTokens
	a.CostNanos += b.CostNanos
	a.RefCostNanos += b.RefCostNanos
	a.UnpricedRequests += b.UnpricedRequests
	a.LatencyMsSum += b.LatencyMsSum
}

// addDay counts an event in its UTC day; the story scenario keeps these so
// reports over any calendar period can be checked exactly.
func (t *Truth) addDay(ev *schemas.Event, newTask bool) {
	if t.ByDay == nil {
		t.ByDay, t.TasksByDay, t.UnpricedTokensByDay = map[string]*Totals{}, map[string]int64{}, map[string]int64{}
	}
	d := ev.Time.UTC().Format(time.DateOnly)
	u := pricing.Usage{Input: ev.Usage.InputTokens, Output: ev.Usage.OutputTokens, CacheRead: ev.Usage.CacheReadTokens,
		CacheWrite: ev.Usage.CacheWriteTokens, CacheWrite1h: ev.Usage.CacheWrite1hTokens, Reasoning: ev.Usage.ReasoningTokens}
	cost, _ := t.catalog.CostAt(u, ev.Provider, ev.Model, ev.Time)
	ref, _ := t.catalog.CostAt(u, ev.Provider, ev.Model, pricing.ReferenceTime(t.refDate, ev.Time))
	one := Totals{Requests: 1, InputTokens: u.Input, OutputTokens: u.Output, CacheReadTokens: u.CacheRead,
		CacheWriteTokens: u.CacheWrite, CacheWrite1hTokens: u.CacheWrite1h, ReasoningTokens: u.Reasoning,
		CostNanos: cost.CostNanos, RefCostNanos: ref.CostNanos, LatencyMsSum: ev.LatencyMs}
	if !cost.Priced {
		one.UnpricedRequests = 1
		t.UnpricedTokensByDay[d] += u.Input + u.Output
	}
	bucket(t.ByDay, d).add(&one)
	if newTask {
		t.TasksByDay[d]++
	}
}
