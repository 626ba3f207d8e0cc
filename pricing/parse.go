package pricing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// rawProvider and rawModel follow the genai-prices data shape. Unknown keys
// are rejected so that a typo in an overlay never silently prices at zero.
type rawProvider struct {
	ID                     string          `json:"id"`
	Name                   string          `json:"name"`
	Description            string          `json:"description"`
	PricingURLs            []string        `json:"pricing_urls"`
	APIPattern             string          `json:"api_pattern"`
	PriceComments          string          `json:"price_comments"`
	ModelMatch             json.RawMessage `json:"model_match"`
	ProviderMatch          json.RawMessage `json:"provider_match"`
	Extractors             json.RawMessage `json:"extractors"`
	FallbackModelProviders []string        `json:"fallback_model_providers"`
	Models                 []rawModel      `json:"models"`
}

type rawModel struct {
	ID            string          `json:"id"`
	Name          string          `json:"name"`
	Description   string          `json:"description"`
	PriceComments string          `json:"price_comments"`
	ContextWindow int64           `json:"context_window"`
	Deprecated    bool            `json:"deprecated"`
	Match         json.RawMessage `json:"match"`
	Prices        json.RawMessage `json:"prices"`
}

type rawConditional struct {
	Constraint *rawConstraint             `json:"constraint"`
	Prices     map[string]json.RawMessage `json:"prices"`
}

type rawConstraint struct {
	Type      string `json:"type"`
	StartDate string `json:"start_date"`
	StartTime string `json:"start_time"`
	EndTime   string `json:"end_time"`
}

// tokenKeys are the price keys Jevons charges tokens by; otherKeys are the
// remaining keys of the genai-prices schema, kept for lookup output.
var tokenKeys = []string{"input_mtok", "cache_read_mtok", "cache_write_mtok", "cache_write_1h_mtok", "output_mtok", "output_reasoning_mtok"}

var otherKeys = map[string]bool{
	"input_audio_mtok": true, "cache_audio_read_mtok": true, "output_audio_mtok": true,
	"input_image_mtok": true, "cache_image_read_mtok": true, "output_image_mtok": true,
	"input_video_mtok": true, "output_video_mtok": true, "output_citation_mtok": true,
	"requests_kcount": true, "web_searches_kcount": true, "storage_searches_kcount": true,
	"input_document_kpages": true, "input_annotated_document_kpages": true,
	"audio_hours": true, "input_audio_hours": true, "input_text_messages_kcount": true,
}

// FieldError is one catalog problem, located by file, provider, model and field.
type FieldError struct {
	Source, Provider, Model, Field, Msg string
}

func (e *FieldError) Error() string {
	loc := e.Source
	if e.Provider != "" {
		loc += ": provider " + e.Provider
	}
	if e.Model != "" {
		loc += ": model " + e.Model
	}
	if e.Field != "" {
		loc += ": " + e.Field
	}
	return loc + ": " + e.Msg
}

type validator struct {
	source string
	errs   []error
}

func (v *validator) fail(provider, model, field, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{v.source, provider, model, field, fmt.Sprintf(format, args...)})
}

func (v *validator) err() error { return errors.Join(v.errs...) }

func (v *validator) provider(r *rawProvider, i int) *Provider {
	if r.ID == "" {
		v.fail(fmt.Sprintf("#%d", i), "", "id", "missing")
		return nil
	}
	p := &Provider{ID: r.ID, Name: r.Name, fallbacks: r.FallbackModelProviders}
	p.providerMatch = v.matcher(r.ProviderMatch, r.ID, "", "provider_match", true)
	p.modelMatch = v.matcher(r.ModelMatch, r.ID, "", "model_match", true)
	seen := map[string]bool{}
	for j := range r.Models {
		rm := &r.Models[j]
		if rm.ID == "" {
			v.fail(r.ID, fmt.Sprintf("#%d", j), "id", "missing")
			continue
		}
		if seen[rm.ID] {
			v.fail(r.ID, rm.ID, "id", "model listed twice")
		}
		seen[rm.ID] = true
		m := &Model{Provider: p, ID: rm.ID, Name: rm.Name, Source: v.source}
		m.match = v.matcher(rm.Match, r.ID, rm.ID, "match", false)
		m.sets, m.first = v.prices(rm.Prices, r.ID, rm.ID)
		if m.match != nil && len(m.sets) > 0 {
			p.Models = append(p.Models, m)
		}
	}
	return p
}

func (v *validator) matcher(raw json.RawMessage, provider, model, field string, optional bool) *matcher {
	if len(raw) == 0 || string(raw) == "null" {
		if !optional {
			v.fail(provider, model, field, "missing")
		}
		return nil
	}
	m, err := parseMatcher(raw)
	if err != nil {
		v.fail(provider, model, field, "%v", err)
		return nil
	}
	return m
}

// prices parses either one price object or a list of conditional prices.
func (v *validator) prices(raw json.RawMessage, provider, model string) ([]priceSet, int) {
	raw = bytes.TrimSpace(raw)
	var conds []rawConditional
	switch {
	case len(raw) == 0:
		v.fail(provider, model, "prices", "missing")
		return nil, 0
	case raw[0] == '[':
		if err := strictDecode(raw, &conds); err != nil {
			v.fail(provider, model, "prices", "%v", err)
			return nil, 0
		}
		if len(conds) == 0 {
			v.fail(provider, model, "prices", "empty list")
			return nil, 0
		}
	default:
		var one map[string]json.RawMessage
		if err := strictDecode(raw, &one); err != nil {
			v.fail(provider, model, "prices", "%v", err)
			return nil, 0
		}
		conds = []rawConditional{{Prices: one}}
	}
	sets := make([]priceSet, 0, len(conds))
	ok := true
	for i, c := range conds {
		field := "prices"
		if len(conds) > 1 || raw[0] == '[' {
			field = fmt.Sprintf("prices[%d]", i)
		}
		s, good := v.priceSet(c, provider, model, field)
		ok = ok && good
		sets = append(sets, s)
	}
	first := v.checkConstraints(sets, provider, model)
	if !ok {
		return nil, 0
	}
	return sets, first
}

func (v *validator) priceSet(c rawConditional, provider, model, field string) (priceSet, bool) {
	var s priceSet
	ok := true
	if c.Constraint != nil {
		if err := s.setConstraint(*c.Constraint); err != nil {
			v.fail(provider, model, field+".constraint", "%v", err)
			ok = false
		}
	}
	if c.Prices == nil {
		v.fail(provider, model, field+".prices", "missing")
		return s, false
	}
	s.Other = map[string]*Price{}
	keys := make([]string, 0, len(c.Prices))
	for k := range c.Prices {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p, err := parsePrice(c.Prices[k])
		if err != nil {
			v.fail(provider, model, field+"."+k, "%v", err)
			ok = false
			continue
		}
		if slot := s.tokenSlot(k); slot != nil {
			*slot = p
		} else if otherKeys[k] {
			s.Other[k] = p
		} else {
			v.fail(provider, model, field+"."+k, "unknown price key (known: %s and the genai-prices unit keys)", strings.Join(tokenKeys, ", "))
			ok = false
		}
	}
	if ok {
		if err := s.compile(); err != nil {
			v.fail(provider, model, field, "%v", err)
			ok = false
		}
	}
	return s, ok
}

// checkConstraints rejects sets whose applicability is ambiguous and returns
// the index of the set that applies before the first dated one.
func (v *validator) checkConstraints(sets []priceSet, provider, model string) int {
	first, undated := -1, 0
	var lastDate time.Time
	var windows [][2]int
	for i, s := range sets {
		switch s.kind {
		case constraintNone:
			undated++
			if undated > 1 {
				v.fail(provider, model, fmt.Sprintf("prices[%d]", i), "more than one entry without a constraint")
			}
			if first < 0 {
				first = i
			}
		case constraintDate:
			if !lastDate.IsZero() && !s.from.After(lastDate) {
				v.fail(provider, model, fmt.Sprintf("prices[%d].constraint.start_date", i),
					"dates overlap: %s is not after the previous start_date %s", s.from.Format(time.DateOnly), lastDate.Format(time.DateOnly))
			}
			if lastDate.IsZero() && first < 0 {
				first = i // no undated entry: the first known price is the earliest dated one
			}
			lastDate = s.from
		case constraintTimeOfDay:
			for _, w := range windows {
				if todOverlap(w, [2]int{s.todStart, s.todEnd}) {
					v.fail(provider, model, fmt.Sprintf("prices[%d].constraint", i), "time_of_date range overlaps another range")
				}
			}
			windows = append(windows, [2]int{s.todStart, s.todEnd})
		}
	}
	if first < 0 && len(sets) > 0 {
		v.fail(provider, model, "prices", "no entry without a constraint and no start_date entry: no price applies at most times")
		first = 0
	}
	return first
}

func todOverlap(a, b [2]int) bool {
	in := func(w [2]int, x int) bool {
		if w[0] < w[1] {
			return x >= w[0] && x < w[1]
		}
		return x >= w[0] || x < w[1]
	}
	return in(a, b[0]) || in(b, a[0])
}

func strictDecode(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	return dec.Decode(v)
}

// parsePrice reads a number or {base, tiers:[{start, price}]}.
func parsePrice(raw json.RawMessage) (*Price, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		var t struct {
			Base  json.Number `json:"base"`
			Tiers []struct {
				Start json.Number `json:"start"`
				Price json.Number `json:"price"`
			} `json:"tiers"`
		}
		if err := strictDecode(raw, &t); err != nil {
			return nil, err
		}
		base, err := ParseDecimal(t.Base.String())
		if err != nil {
			return nil, fmt.Errorf("base: %w", err)
		}
		p := &Price{Base: base}
		for i, tr := range t.Tiers {
			start, err := tr.Start.Int64()
			if err != nil || start < 0 {
				return nil, fmt.Errorf("tiers[%d].start: want a non-negative integer, got %q", i, tr.Start)
			}
			if i > 0 && start <= p.Tiers[i-1].Start {
				return nil, fmt.Errorf("tiers[%d].start: tier starts not increasing (%d after %d)", i, start, p.Tiers[i-1].Start)
			}
			price, err := ParseDecimal(tr.Price.String())
			if err != nil {
				return nil, fmt.Errorf("tiers[%d].price: %w", i, err)
			}
			p.Tiers = append(p.Tiers, Tier{Start: start, Price: price})
		}
		return p, nil
	}
	var n json.Number
	if err := strictDecode(raw, &n); err != nil {
		return nil, fmt.Errorf("want a number or {base, tiers}: %w", err)
	}
	d, err := ParseDecimal(n.String())
	if err != nil {
		return nil, err
	}
	return &Price{Base: d}, nil
}

func (s *priceSet) setConstraint(c rawConstraint) error {
	switch c.Type {
	case "start_date":
		d, err := time.Parse(time.DateOnly, c.StartDate)
		if err != nil {
			return fmt.Errorf("start_date: want YYYY-MM-DD, got %q", c.StartDate)
		}
		s.kind, s.from = constraintDate, d
	case "time_of_date":
		a, errA := parseTimeOfDay(c.StartTime)
		b, errB := parseTimeOfDay(c.EndTime)
		if err := errors.Join(errA, errB); err != nil {
			return err
		}
		if a == b {
			return errors.New("time_of_date: start_time equals end_time")
		}
		s.kind, s.todStart, s.todEnd = constraintTimeOfDay, a, b
	default:
		return fmt.Errorf("type: want start_date or time_of_date, got %q", c.Type)
	}
	return nil
}

func parseTimeOfDay(s string) (int, error) {
	t, err := time.Parse("15:04:05", strings.TrimSuffix(s, "Z"))
	if err != nil {
		return 0, fmt.Errorf("time %q: want HH:MM:SS in UTC", s)
	}
	return t.Hour()*3600 + t.Minute()*60 + t.Second(), nil
}
