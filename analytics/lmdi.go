package analytics

import "math"

// Decomposition is the additive split of C1 - C0 into volume (tokens), mix
// (which models and token kinds) and price (list prices against reference),
// in nano-dollars; the three always sum to C1 - C0 exactly.
type Decomposition struct {
	VolumeNanos int64
	MixNanos    int64
	PriceNanos  int64
	// Note says which explicit case applied when a period has zero cost or
	// zero reference cost; empty for the plain LMDI case.
	Note string
}

// Total is volume + mix + price, which equals C1 - C0.
func (d Decomposition) Total() int64 { return d.VolumeNanos + d.MixNanos + d.PriceNanos }

// Logmean is L(a,b) = (a-b)/(ln a - ln b), L(a,a) = a, for a, b > 0.
func Logmean(a, b float64) float64 {
	if a == b {
		return a
	}
	d := math.Log(a) - math.Log(b)
	if d == 0 { // a and b differ in the last bits only
		return (a + b) / 2
	}
	return (a - b) / d
}

// Decompose splits C1 - C0 by LMDI-I with the zero cases of the package
// comment.
func Decompose(p0, p1 Totals) Decomposition {
	c0, c1 := p0.CostNanos, p1.CostNanos
	delta := c1 - c0
	switch {
	case c0 == 0 && c1 == 0:
		return Decomposition{}
	case c0 <= 0 || c1 <= 0:
		return zeroPeriod(p0, p1, delta)
	}
	q0, q1 := float64(p0.PricedTokens()), float64(p1.PricedTokens())
	if q0 == 0 || q1 == 0 {
		// Cost without priced tokens comes only from a rollup row that mixes
		// priced and unpriced requests; nothing to split it by.
		return Decomposition{VolumeNanos: delta, Note: "cost without priced tokens: all volume"}
	}
	l := Logmean(float64(c1), float64(c0))
	volume := l * math.Log(q1/q0)
	if p0.RefCostNanos <= 0 || p1.RefCostNanos <= 0 {
		return settle(delta, volume, 0, float64(delta)-volume,
			"reference cost zero in a period: mix and price together as price")
	}
	r0, r1 := float64(p0.RefCostNanos), float64(p1.RefCostNanos)
	mix := l * math.Log((r1/q1)/(r0/q0))
	price := l * math.Log((float64(c1)/r1)/(float64(c0)/r0))
	return settle(delta, volume, mix, price, "")
}

// zeroPeriod is the LMDI limit when one period's cost is zero: the whole
// change goes to the factor that is zero in that period.
func zeroPeriod(p0, p1 Totals, delta int64) Decomposition {
	zero, note := p0, "new usage"
	if p1.CostNanos <= 0 {
		zero, note = p1, "usage stopped"
	}
	switch {
	case zero.PricedTokens() == 0:
		return Decomposition{VolumeNanos: delta, Note: note}
	case zero.RefCostNanos <= 0:
		return Decomposition{MixNanos: delta, Note: "zero reference cost in a period: all mix"}
	default:
		return Decomposition{PriceNanos: delta, Note: "zero cost at list prices in a period: all price"}
	}
}

// settle rounds the three terms to nano-dollars and gives the remainder to
// the largest, so they sum to delta exactly.
func settle(delta int64, volume, mix, price float64, note string) Decomposition {
	d := Decomposition{
		VolumeNanos: int64(math.Round(volume)),
		MixNanos:    int64(math.Round(mix)),
		PriceNanos:  int64(math.Round(price)),
		Note:        note,
	}
	rest := delta - d.Total()
	switch {
	case math.Abs(volume) >= math.Abs(mix) && math.Abs(volume) >= math.Abs(price):
		d.VolumeNanos += rest
	case math.Abs(mix) >= math.Abs(price):
		d.MixNanos += rest
	default:
		d.PriceNanos += rest
	}
	return d
}
