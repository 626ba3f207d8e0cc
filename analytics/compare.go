package analytics

import "math"

// Verdict is the one-line answer to the Jevons question for a slice. The
// words are fixed: reports, JSON and alerts use these constants.
type Verdict string

const (
	UsageOutpacesDecline Verdict = "usage growth outpaces unit-cost decline"
	DeclineOutpacesUsage Verdict = "unit-cost decline outpaces usage growth"
	UnitCostRising       Verdict = "unit cost rising"
	NoChange             Verdict = "no change"
	NewUsage             Verdict = "new usage"
	UsageStopped         Verdict = "usage stopped"
)

// NoChangeBand is how far u1/u0 may be from 1 and still be "no change".
const NoChangeBand = 0.01

// Comparison sets period 1 against period 0 for one slice.
type Comparison struct {
	P0, P1         Totals
	UsageFactor    Factor // Q1/Q0
	UnitCostFactor Factor // u1/u0
	SpendFactor    Factor // C1/C0
	PriceFactor    Factor // pi1/pi0
	MixFactor      Factor // m1/m0
	Elasticity     Factor // -ln(Q1/Q0)/ln(u1/u0), only when u fell
	Verdict        Verdict
	Decomposition  Decomposition
}

// Compare computes the factors, the elasticity proxy, the verdict and the
// LMDI split of C1 - C0 between two periods of one slice.
func Compare(p0, p1 Totals) Comparison {
	c := Comparison{
		P0: p0, P1: p1,
		UsageFactor:    countRatio(float64(p1.PricedTokens()), float64(p0.PricedTokens()), "priced tokens"),
		UnitCostFactor: ratio(p1.UnitCost(), p0.UnitCost()),
		SpendFactor:    countRatio(float64(p1.CostNanos), float64(p0.CostNanos), "cost"),
		PriceFactor:    ratio(p1.PriceIndex(), p0.PriceIndex()),
		MixFactor:      ratio(p1.MixIntensity(), p0.MixIntensity()),
		Decomposition:  Decompose(p0, p1),
	}
	c.Verdict = verdict(p0, p1)
	c.Elasticity = elasticity(c.Verdict, c.UsageFactor, c.UnitCostFactor)
	return c
}

func verdict(p0, p1 Totals) Verdict {
	q0, q1 := p0.PricedTokens(), p1.PricedTokens()
	switch {
	case q0 == 0 && q1 == 0:
		return NoChange
	case q0 == 0:
		return NewUsage
	case q1 == 0:
		return UsageStopped
	}
	// Both unit costs are defined: both periods have priced tokens.
	u0, u1 := p0.UnitCost().Value, p1.UnitCost().Value
	switch {
	case u0 == 0 && u1 == 0:
		return NoChange
	case u0 == 0:
		return UnitCostRising // free tokens became priced
	case math.Abs(u1/u0-1) <= NoChangeBand:
		return NoChange
	case u1 > u0:
		return UnitCostRising
	case p1.CostNanos > p0.CostNanos:
		return UsageOutpacesDecline
	default:
		return DeclineOutpacesUsage
	}
}

func elasticity(v Verdict, qf, uf Factor) Factor {
	if v != UsageOutpacesDecline && v != DeclineOutpacesUsage {
		return undefined("unit cost did not fall")
	}
	if !uf.Defined || uf.Value <= 0 {
		return undefined("unit cost fell to zero")
	}
	return defined(-math.Log(qf.Value) / math.Log(uf.Value))
}
