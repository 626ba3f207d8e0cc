package pricing

import (
	"encoding/json"
	"math/big"
	"sort"
	"time"
)

// Price is a per-million-token price, possibly tiered by input tokens.
type Price struct {
	Base  Decimal
	Tiers []Tier
}

// Tier applies when a request's input tokens are greater than Start.
type Tier struct {
	Start int64   `json:"start"`
	Price Decimal `json:"price"`
}

// MarshalJSON writes the genai-prices shape: a number, or {base, tiers}.
func (p *Price) MarshalJSON() ([]byte, error) {
	if len(p.Tiers) == 0 {
		return p.Base.MarshalJSON()
	}
	return json.Marshal(struct {
		Base  Decimal `json:"base"`
		Tiers []Tier  `json:"tiers"`
	}{p.Base, p.Tiers})
}

// at returns the price for a request with the given input tokens.
func (p *Price) at(input int64) Decimal {
	d := p.Base
	for _, t := range p.Tiers {
		if input > t.Start {
			d = t.Price
		}
	}
	return d
}

// PriceSet is the prices of one catalog entry. A nil token price means the
// model does not price that kind separately: it costs its parent's price.
type PriceSet struct {
	Input           *Price            `json:"input_mtok,omitempty"`
	CacheRead       *Price            `json:"cache_read_mtok,omitempty"`
	CacheWrite      *Price            `json:"cache_write_mtok,omitempty"`
	CacheWrite1h    *Price            `json:"cache_write_1h_mtok,omitempty"`
	Output          *Price            `json:"output_mtok,omitempty"`
	OutputReasoning *Price            `json:"output_reasoning_mtok,omitempty"`
	Other           map[string]*Price `json:"other,omitempty"`
}

func (s *PriceSet) tokenSlot(key string) **Price {
	switch key {
	case "input_mtok":
		return &s.Input
	case "cache_read_mtok":
		return &s.CacheRead
	case "cache_write_mtok":
		return &s.CacheWrite
	case "cache_write_1h_mtok":
		return &s.CacheWrite1h
	case "output_mtok":
		return &s.Output
	case "output_reasoning_mtok":
		return &s.OutputReasoning
	}
	return nil
}

// The six disjoint token parts a request is charged by.
const (
	partUncachedInput = iota
	partCacheRead
	partCacheWrite5m
	partCacheWrite1h
	partOutput
	partReasoning
	numParts
)

// Effective returns the price of each disjoint part after parent fallback:
// cache reads and writes fall back to input, 1-hour writes to cache writes,
// reasoning to output; an unpriced root costs zero.
func (s *PriceSet) effective() [numParts]*Price {
	zero := &Price{}
	or := func(p, parent *Price) *Price {
		if p != nil {
			return p
		}
		return parent
	}
	in := or(s.Input, zero)
	cw := or(s.CacheWrite, in)
	out := or(s.Output, zero)
	return [numParts]*Price{in, or(s.CacheRead, in), cw, or(s.CacheWrite1h, cw), out, or(s.OutputReasoning, out)}
}

type constraintKind uint8

const (
	constraintNone constraintKind = iota
	constraintDate
	constraintTimeOfDay
)

// priceSet is a PriceSet with its constraint and its prices precomputed per
// tier level as integers at one common scale, so that costing is a handful
// of integer multiply-adds.
type priceSet struct {
	PriceSet
	kind             constraintKind
	from             time.Time
	todStart, todEnd int // seconds after UTC midnight; end excluded

	starts []int64             // union of tier starts, increasing
	levels [][numParts]Decimal // len(starts)+1 levels
	fast   [][numParts]uint64  // levels at 10^-scale, nil if they overflow
	scale  uint8               // >= 3, so nanos = sum / 10^(scale-3)
}

func (s *priceSet) active(t time.Time) bool {
	switch s.kind {
	case constraintDate:
		return !t.Before(s.from)
	case constraintTimeOfDay:
		t = t.UTC()
		x := t.Hour()*3600 + t.Minute()*60 + t.Second()
		if s.todStart < s.todEnd {
			return x >= s.todStart && x < s.todEnd
		}
		return x >= s.todStart || x < s.todEnd
	}
	return true
}

func (s *priceSet) compile() error {
	eff := s.effective()
	seen := map[int64]bool{}
	for _, p := range eff {
		for _, t := range p.Tiers {
			if !seen[t.Start] {
				seen[t.Start] = true
				s.starts = append(s.starts, t.Start)
			}
		}
	}
	sort.Slice(s.starts, func(i, j int) bool { return s.starts[i] < s.starts[j] })
	s.scale = 3
	for lvl := 0; lvl <= len(s.starts); lvl++ {
		input := int64(-1) // level 0: no tier applies
		if lvl > 0 {
			input = s.starts[lvl-1] + 1
		}
		var row [numParts]Decimal
		for i, p := range eff {
			row[i] = p.at(input)
			s.scale = max(s.scale, row[i].E)
		}
		s.levels = append(s.levels, row)
	}
	fast := make([][numParts]uint64, len(s.levels))
	for lvl, row := range s.levels {
		for i, d := range row {
			v, ok := d.scaled(s.scale)
			if !ok {
				s.fast = nil
				return nil // exact but slow path: big integers
			}
			fast[lvl][i] = v
		}
	}
	s.fast = fast
	return nil
}

// level returns the tier level for a request's input tokens.
func (s *priceSet) level(input int64) int {
	l := 0
	for l < len(s.starts) && input > s.starts[l] {
		l++
	}
	return l
}

// costSlow is the exact big-integer path for price sets whose common scale
// overflows 64 bits; it is also the reference the fast path is tested against.
func (s *priceSet) costSlow(lvl int, parts [numParts]int64) (int64, bool) {
	sum := new(big.Int)
	var term, tmp big.Int
	for i, d := range s.levels[lvl] {
		term.SetUint64(d.M)
		term.Mul(&term, tmp.Exp(big.NewInt(10), big.NewInt(int64(s.scale-d.E)), nil))
		term.Mul(&term, big.NewInt(parts[i]))
		sum.Add(sum, &term)
	}
	div := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(s.scale-3)), nil)
	q, r := new(big.Int).QuoRem(sum, div, new(big.Int))
	r.Lsh(r, 1)
	if c := r.Cmp(div); c > 0 || (c == 0 && q.Bit(0) == 1) {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() {
		return 0, false
	}
	return q.Int64(), true
}
