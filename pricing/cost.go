package pricing

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Usage is one request's token counts, OpenTelemetry GenAI style: Input
// includes cache reads and writes, CacheWrite includes CacheWrite1h, Output
// includes Reasoning.
type Usage struct {
	Input, Output, CacheRead, CacheWrite, CacheWrite1h, Reasoning int64
}

// UsageError says how a usage breaks the nesting rules.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return "invalid usage: " + e.Msg }

// Validate checks the nesting rules; it never clamps.
func (u Usage) Validate() error {
	switch {
	case u.Input < 0 || u.Output < 0 || u.CacheRead < 0 || u.CacheWrite < 0 || u.CacheWrite1h < 0 || u.Reasoning < 0:
		return &UsageError{"negative token count"}
	case u.CacheRead+u.CacheWrite > u.Input || u.CacheRead+u.CacheWrite < 0:
		return &UsageError{fmt.Sprintf("cache_read_tokens + cache_write_tokens (%d + %d) exceed input_tokens (%d)", u.CacheRead, u.CacheWrite, u.Input)}
	case u.CacheWrite1h > u.CacheWrite:
		return &UsageError{fmt.Sprintf("cache_write_1h_tokens (%d) exceed cache_write_tokens (%d)", u.CacheWrite1h, u.CacheWrite)}
	case u.Reasoning > u.Output:
		return &UsageError{fmt.Sprintf("reasoning_tokens (%d) exceed output_tokens (%d)", u.Reasoning, u.Output)}
	}
	return nil
}

func (u Usage) parts() [numParts]int64 {
	return [numParts]int64{
		u.Input - u.CacheRead - u.CacheWrite,
		u.CacheRead,
		u.CacheWrite - u.CacheWrite1h,
		u.CacheWrite1h,
		u.Output - u.Reasoning,
		u.Reasoning,
	}
}

// Result is one request's cost and the catalog entry that priced it.
type Result struct {
	CostNanos  int64
	Priced     bool
	ProviderID string
	ModelID    string
	PriceFrom  time.Time // effective date of the price set; zero when undated
	TierStart  int64     // valid when Tiered
	Tiered     bool
}

// ErrOverflow is returned for usage so large that its cost does not fit.
var ErrOverflow = errors.New("cost overflows int64 nano-dollars")

// CostAt prices a request at time t. An unknown model is not an error: the
// result has Priced=false and cost zero, and the pair is recorded for
// Unknown. Invalid usage is an error.
func (c *Catalog) CostAt(u Usage, provider, model string, t time.Time) (Result, error) {
	if err := u.Validate(); err != nil {
		return Result{}, err
	}
	m := c.Match(provider, model)
	if m == nil {
		c.noteUnknown(provider, model)
		return Result{}, nil
	}
	return m.Cost(u, t)
}

// Cost prices usage (already validated) with this model's prices at t.
func (m *Model) Cost(u Usage, t time.Time) (Result, error) {
	s := &m.sets[m.setAt(t)]
	r := Result{Priced: true, ProviderID: m.Provider.ID, ModelID: m.ID, PriceFrom: s.from}
	lvl := s.level(u.Input)
	if lvl > 0 {
		r.Tiered, r.TierStart = true, s.starts[lvl-1]
	}
	parts := u.parts()
	var ok bool
	if s.fast != nil {
		r.CostNanos, ok = costFast(&s.fast[lvl], &parts, pow10[s.scale-3])
	} else {
		r.CostNanos, ok = s.costSlow(lvl, parts)
	}
	if !ok {
		return Result{}, ErrOverflow
	}
	return r, nil
}

func costFast(prices *[numParts]uint64, parts *[numParts]int64, div uint64) (int64, bool) {
	var sum u128
	for i, p := range prices {
		if !sum.addMul(uint64(parts[i]), p) {
			return 0, false
		}
	}
	return sum.divRoundHalfEven(div)
}

func (c *Catalog) noteUnknown(provider, model string) {
	c.unknownMu.Lock()
	if n, ok := c.unknown[[2]string{provider, model}]; ok {
		c.unknown[[2]string{provider, model}] = n + 1
	} else if len(c.unknown) < maxCached { // a key of its own: the caller's strings may point into a reused buffer
		c.unknown[[2]string{strings.Clone(provider), strings.Clone(model)}] = 1
	}
	c.unknownMu.Unlock()
}

// UnknownModel is a (provider, model) pair the catalog could not price.
type UnknownModel struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
	Requests int64  `json:"requests"`
}

// Unknown lists the pairs CostAt could not price, most requests first.
func (c *Catalog) Unknown() []UnknownModel {
	c.unknownMu.Lock()
	out := make([]UnknownModel, 0, len(c.unknown))
	for k, n := range c.unknown {
		out = append(out, UnknownModel{k[0], k[1], n})
	}
	c.unknownMu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Requests != out[j].Requests {
			return out[i].Requests > out[j].Requests
		}
		return out[i].Provider+out[i].Model < out[j].Provider+out[j].Model
	})
	return out
}

// ReferenceTime is the instant at which a request's reference cost is
// priced: the reference date at the request's own UTC time of day, so that
// time-of-day prices compare like with like. The zero reference date means
// each model's first known price.
func ReferenceTime(refDate, eventTime time.Time) time.Time {
	if refDate.IsZero() {
		return time.Time{}
	}
	e := eventTime.UTC()
	y, m, d := refDate.UTC().Date()
	return time.Date(y, m, d, e.Hour(), e.Minute(), e.Second(), e.Nanosecond(), time.UTC)
}

// CostPair prices usage at t and at the reference instant ref with one
// match: when both instants fall under the same price set, the second cost
// is the first. It is what an aggregator calls per request.
func (c *Catalog) CostPair(u Usage, provider, model string, t, ref time.Time) (at, atRef Result, err error) {
	if err := u.Validate(); err != nil {
		return Result{}, Result{}, err
	}
	m := c.Match(provider, model)
	if m == nil {
		c.noteUnknown(provider, model)
		return Result{}, Result{}, nil
	}
	return m.costPair(u, t, ref)
}

// CostPair is Catalog.CostPair for a model already matched: a caller that
// keeps the match of each (provider, model) it sees skips the catalog's
// shared cache.
func (m *Model) CostPair(u Usage, t, ref time.Time) (at, atRef Result, err error) {
	if err := u.Validate(); err != nil {
		return Result{}, Result{}, err
	}
	return m.costPair(u, t, ref)
}

func (m *Model) costPair(u Usage, t, ref time.Time) (at, atRef Result, err error) {
	if at, err = m.Cost(u, t); err != nil {
		return Result{}, Result{}, err
	}
	if m.setAt(t) == m.setAt(ref) {
		return at, at, nil
	}
	atRef, err = m.Cost(u, ref)
	return at, atRef, err
}
