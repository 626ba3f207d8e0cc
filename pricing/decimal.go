package pricing

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// maxScale bounds the decimal places a price may carry. The catalog holds
// binary-float artefacts such as 0.08333333333333334 (17 places); they are
// kept exactly rather than rounded, because a price is data, not a guess.
const maxScale = 18

// Decimal is a non-negative exact decimal: M × 10^-E.
type Decimal struct {
	M uint64
	E uint8
}

var pow10 = func() [20]uint64 {
	var p [20]uint64
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

var errNegative = errors.New("negative value")

// ParseDecimal reads a JSON/YAML number such as "0.135", "15", "2.5e-1".
func ParseDecimal(s string) (Decimal, error) {
	orig := s
	if s == "" {
		return Decimal{}, errors.New("empty number")
	}
	if s[0] == '-' {
		if strings.Trim(s[1:], "0.eE+-") == "" {
			s = s[1:] // -0 is zero
		} else {
			return Decimal{}, errNegative
		}
	}
	exp := 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 40 || e < -40 {
			return Decimal{}, fmt.Errorf("bad number %q", orig)
		}
		exp, s = e, s[:i]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	if intPart+frac == "" || strings.Trim(intPart+frac, "0123456789") != "" {
		return Decimal{}, fmt.Errorf("bad number %q", orig)
	}
	scale := len(frac) - exp
	// Drop trailing zeros so the scale is minimal.
	for len(digits) > 0 && digits[len(digits)-1] == '0' && scale > 0 {
		digits, scale = digits[:len(digits)-1], scale-1
	}
	if digits == "" {
		return Decimal{}, nil
	}
	for scale < 0 {
		digits, scale = digits+"0", scale+1
	}
	if scale > maxScale {
		return Decimal{}, fmt.Errorf("number %q has more than %d decimal places", orig, maxScale)
	}
	m, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return Decimal{}, fmt.Errorf("number %q is too large", orig)
	}
	return Decimal{M: m, E: uint8(scale)}, nil
}

// String formats the decimal without exponent and without trailing zeros.
func (d Decimal) String() string {
	s := strconv.FormatUint(d.M, 10)
	if d.E == 0 {
		return s
	}
	e := int(d.E)
	if len(s) <= e {
		s = strings.Repeat("0", e-len(s)+1) + s
	}
	return strings.TrimRight(strings.TrimRight(s[:len(s)-e]+"."+s[len(s)-e:], "0"), ".")
}

// MarshalJSON emits the decimal as a JSON number with its exact digits.
func (d Decimal) MarshalJSON() ([]byte, error) { return []byte(d.String()), nil }

// scaled returns M × 10^(e-E) for a target scale e >= E, and false on overflow.
func (d Decimal) scaled(e uint8) (uint64, bool) {
	hi, lo := bits.Mul64(d.M, pow10[e-d.E])
	return lo, hi == 0
}

// u128 is an unsigned 128-bit accumulator for exact cost sums.
type u128 struct{ hi, lo uint64 }

// addMul adds a×b, reporting overflow.
func (x *u128) addMul(a, b uint64) bool {
	hi, lo := bits.Mul64(a, b)
	var c uint64
	x.lo, c = bits.Add64(x.lo, lo, 0)
	x.hi, c = bits.Add64(x.hi, hi, c)
	return c == 0
}

// divRoundHalfEven divides by d (> 0), rounding to the nearest integer, ties to
// even. ok is false when the quotient does not fit an int64.
func (x u128) divRoundHalfEven(d uint64) (int64, bool) {
	qhi, r := bits.Div64(0, x.hi, d)
	qlo, r := bits.Div64(r, x.lo, d)
	if qhi != 0 {
		return 0, false
	}
	// Compare 2r with d without overflowing: r < d, so r >= d-r is 2r >= d.
	if r > d-r || (r == d-r && qlo&1 == 1) {
		qlo++
	}
	if qlo > 1<<63-1 {
		return 0, false
	}
	return int64(qlo), true
}

// FormatNanos renders nano-dollars as a USD decimal string with 9 places.
func FormatNanos(n int64) string {
	sign := ""
	u := uint64(n)
	if n < 0 {
		sign, u = "-", uint64(-n)
	}
	return fmt.Sprintf("%s%d.%09d", sign, u/1e9, u%1e9)
}
