package analytics

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// randomTotals draws figures of very different sizes, zero included, the
// way real slices differ: a few tokens to trillions, free to pricey.
func randomTotals(r *rand.Rand) Totals {
	scale := func() uint64 {
		if r.IntN(8) == 0 {
			return 0
		}
		return uint64(math.Pow(10, r.Float64()*12))
	}
	in, out := scale(), scale()
	t := Totals{
		Requests:     1 + scale()/1000,
		Tasks:        scale() / 10000,
		InputTokens:  in,
		OutputTokens: out,
	}
	t.CacheReadTokens = in / 3
	t.ReasoningTokens = out / 2
	if t.Tokens() > 0 && r.IntN(6) > 0 {
		usdPerMtok := math.Pow(10, r.Float64()*4-2) // 0.01 to 100
		t.CostNanos = int64(float64(t.Tokens()) * usdPerMtok * 1e3)
		t.RefCostNanos = int64(float64(t.CostNanos) * math.Pow(10, r.Float64()*2-1))
	}
	if r.IntN(10) == 0 {
		t.UnpricedRequests = 1
		t.UnpricedTokens = t.Tokens() / 4
	}
	return t
}

func relClose(a, b, tol float64) bool {
	if a == b {
		return true
	}
	return math.Abs(a-b) <= tol*math.Max(math.Abs(a), math.Abs(b))
}

func TestIdentityCostIsUsageTimesMixTimesPrice(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	checked := 0
	for i := 0; i < 100000; i++ {
		x := randomTotals(r)
		u, m, pi := x.UnitCost(), x.MixIntensity(), x.PriceIndex()
		if !m.Defined || !pi.Defined {
			continue
		}
		checked++
		q := float64(x.PricedTokens())
		if c := q * m.Value * 1e3 * pi.Value; !relClose(c, float64(x.CostNanos), 1e-12) {
			t.Fatalf("%+v: Q x m x pi = %v, C = %d", x, c, x.CostNanos)
		}
		if !relClose(u.Value, m.Value*pi.Value, 1e-12) {
			t.Fatalf("%+v: u = %v, m x pi = %v", x, u.Value, m.Value*pi.Value)
		}
	}
	if checked < 50000 {
		t.Fatalf("only %d draws had every figure defined", checked)
	}
}

func TestFactorsMultiply(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	checked := 0
	for i := 0; i < 100000; i++ {
		c := Compare(randomTotals(r), randomTotals(r))
		if !c.UsageFactor.Defined || !c.MixFactor.Defined || !c.PriceFactor.Defined || !c.SpendFactor.Defined {
			continue
		}
		checked++
		if got := c.UsageFactor.Value * c.MixFactor.Value * c.PriceFactor.Value; !relClose(got, c.SpendFactor.Value, 1e-12) {
			t.Fatalf("usage x mix x price = %v, spend factor %v", got, c.SpendFactor.Value)
		}
		if got := c.MixFactor.Value * c.PriceFactor.Value; !relClose(got, c.UnitCostFactor.Value, 1e-12) {
			t.Fatalf("mix x price = %v, unit-cost factor %v", got, c.UnitCostFactor.Value)
		}
	}
	if checked < 30000 {
		t.Fatalf("only %d draws had every factor defined", checked)
	}
}

func TestDecompositionSumsToTheChangeInSpendExactly(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	plain := 0
	for i := 0; i < 200000; i++ {
		p0, p1 := randomTotals(r), randomTotals(r)
		d := Decompose(p0, p1)
		if d.Total() != p1.CostNanos-p0.CostNanos {
			t.Fatalf("%+v -> %+v: volume+mix+price = %d, C1-C0 = %d", p0, p1, d.Total(), p1.CostNanos-p0.CostNanos)
		}
		if d.Note != "" {
			continue
		}
		plain++
		// Each term is its LMDI formula, up to rounding to the nano-dollar.
		l := Logmean(float64(p1.CostNanos), float64(p0.CostNanos))
		c := Compare(p0, p1)
		for _, term := range []struct {
			name string
			got  int64
			f    Factor
		}{{"volume", d.VolumeNanos, c.UsageFactor}, {"mix", d.MixNanos, c.MixFactor}, {"price", d.PriceNanos, c.PriceFactor}} {
			want := l * math.Log(term.f.Value)
			if math.Abs(float64(term.got)-want) > 3+1e-9*math.Abs(l) {
				t.Fatalf("%s = %d, formula %v (L = %v)", term.name, term.got, want, l)
			}
		}
	}
	if plain < 100000 {
		t.Fatalf("only %d draws took the plain LMDI path", plain)
	}
}

func TestNothingIsEverNaN(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 50000; i++ {
		c := Compare(randomTotals(r), randomTotals(r))
		for _, f := range []Factor{c.UsageFactor, c.UnitCostFactor, c.SpendFactor, c.PriceFactor, c.MixFactor, c.Elasticity} {
			if f.Defined && (math.IsNaN(f.Value) || math.IsInf(f.Value, 0)) {
				t.Fatalf("defined factor %v", f.Value)
			}
			if !f.Defined && f.Reason == "" {
				t.Fatalf("undefined factor without a reason: %+v", c)
			}
		}
	}
}

func TestZeroNewAndRetiredSlices(t *testing.T) {
	busy := Totals{Requests: 10, Tasks: 2, InputTokens: 1000, OutputTokens: 500, CostNanos: 3_000_000, RefCostNanos: 6_000_000}
	free := Totals{Requests: 10, InputTokens: 1000, OutputTokens: 500}
	freeAtList := Totals{Requests: 10, InputTokens: 1000, OutputTokens: 500, RefCostNanos: 6_000_000}
	tests := []struct {
		name         string
		p0, p1       Totals
		verdict      Verdict
		volume, mix  int64
		price        int64
		usageDefined bool
	}{
		{"a slice with nothing in either period is no change with a zero split", Totals{}, Totals{}, NoChange, 0, 0, 0, false},
		{"a slice new in period 1 is all new usage", Totals{}, busy, NewUsage, 3_000_000, 0, 0, false},
		{"a retired slice is all volume lost", busy, Totals{}, UsageStopped, -3_000_000, 0, 0, true},
		{"free tokens of a model free at reference too that became priced are all mix", free, busy, UnitCostRising, 0, 3_000_000, 0, true},
		{"tokens free at list price but not at reference that became priced are all price", freeAtList, busy, UnitCostRising, 0, 0, 3_000_000, true},
		{"priced tokens that became free are a unit-cost decline", busy, freeAtList, DeclineOutpacesUsage, 0, 0, -3_000_000, true},
		{"the same usage at the same prices is no change", busy, busy, NoChange, 0, 0, 0, true},
		{"usage only in unpriced requests is not usage for the verdict",
			Totals{Requests: 5, InputTokens: 100, UnpricedRequests: 5, UnpricedTokens: 100}, busy, NewUsage, 3_000_000, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Compare(tt.p0, tt.p1)
			if c.Verdict != tt.verdict {
				t.Errorf("verdict %q, want %q", c.Verdict, tt.verdict)
			}
			d := c.Decomposition
			if d.Total() != tt.p1.CostNanos-tt.p0.CostNanos {
				t.Errorf("split %+v does not sum to %d", d, tt.p1.CostNanos-tt.p0.CostNanos)
			}
			if d.VolumeNanos != tt.volume || d.MixNanos != tt.mix || d.PriceNanos != tt.price {
				t.Errorf("split %+v, want volume %d mix %d price %d", d, tt.volume, tt.mix, tt.price)
			}
			if c.UsageFactor.Defined != tt.usageDefined {
				t.Errorf("usage factor %+v, defined want %v", c.UsageFactor, tt.usageDefined)
			}
			fell := c.Verdict == DeclineOutpacesUsage && c.UnitCostFactor.Value > 0
			if c.Elasticity.Defined != fell {
				t.Errorf("elasticity %+v with verdict %q", c.Elasticity, c.Verdict)
			}
		})
	}
}

func TestVerdictWords(t *testing.T) {
	base := Totals{InputTokens: 1_000_000, CostNanos: 10_000_000_000, RefCostNanos: 10_000_000_000}
	with := func(tokens uint64, cost int64) Totals {
		return Totals{InputTokens: tokens, CostNanos: cost, RefCostNanos: int64(tokens) * 10_000}
	}
	tests := []struct {
		name       string
		p1         Totals
		want       Verdict
		words      string
		elasticity bool
	}{
		{"tokens x4 at half the unit cost: usage outpaces the decline", with(4_000_000, 20_000_000_000), UsageOutpacesDecline, "usage growth outpaces unit-cost decline", true},
		{"tokens x1.5 at half the unit cost: the decline outpaces usage", with(1_500_000, 7_500_000_000), DeclineOutpacesUsage, "unit-cost decline outpaces usage growth", true},
		{"half the unit cost with spend exactly flat: the decline keeps pace", with(2_000_000, 10_000_000_000), DeclineOutpacesUsage, "unit-cost decline outpaces usage growth", true},
		{"the same tokens at a higher price: unit cost rising", with(1_000_000, 12_000_000_000), UnitCostRising, "unit cost rising", false},
		{"unit cost down 0.5% while usage doubles: no change in unit cost", with(2_000_000, 19_900_000_000), NoChange, "no change", false},
		{"unit cost up 0.9%: no change", with(1_000_000, 10_090_000_000), NoChange, "no change", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Compare(base, tt.p1)
			if c.Verdict != tt.want || string(c.Verdict) != tt.words {
				t.Fatalf("verdict %q, want %q", c.Verdict, tt.words)
			}
			if c.Elasticity.Defined != tt.elasticity {
				t.Fatalf("elasticity %+v, defined want %v", c.Elasticity, tt.elasticity)
			}
			if c.Elasticity.Defined && (c.Elasticity.Value > 1) != (c.Verdict == UsageOutpacesDecline) {
				t.Fatalf("elasticity %v disagrees with verdict %q", c.Elasticity.Value, c.Verdict)
			}
		})
	}
}

func TestElasticityAboveOneExactlyWhenSpendRoseAsUnitCostFell(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	seen := map[Verdict]int{}
	for i := 0; i < 100000; i++ {
		c := Compare(randomTotals(r), randomTotals(r))
		seen[c.Verdict]++
		if !c.Elasticity.Defined {
			continue
		}
		if (c.Elasticity.Value > 1) != (c.P1.CostNanos > c.P0.CostNanos) {
			t.Fatalf("e = %v with C0 = %d, C1 = %d", c.Elasticity.Value, c.P0.CostNanos, c.P1.CostNanos)
		}
	}
	for _, v := range []Verdict{UsageOutpacesDecline, DeclineOutpacesUsage, UnitCostRising, NoChange, NewUsage, UsageStopped} {
		if seen[v] == 0 {
			t.Errorf("verdict %q never drawn", v)
		}
	}
}

func TestUndefinedFactorIsJSONNull(t *testing.T) {
	b, err := json.Marshal(map[string]Factor{"e": undefined("x"), "f": defined(1.5)})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"e":null,"f":1.5}` {
		t.Fatalf("got %s", b)
	}
}

func TestLogmean(t *testing.T) {
	if Logmean(5, 5) != 5 {
		t.Fatal("L(a,a) != a")
	}
	if got, want := Logmean(math.E, 1), (math.E-1)/1; !relClose(got, want, 1e-15) {
		t.Fatalf("L(e,1) = %v, want %v", got, want)
	}
	if Logmean(2, 1) != Logmean(1, 2) {
		t.Fatal("L is not symmetric")
	}
}
