package analytics

import (
	"encoding/json"
	"math"
)

// Factor is a ratio that may not be defined (a zero denominator, a zero
// period). An undefined Factor says why and encodes as JSON null; it is never
// NaN or infinite.
type Factor struct {
	Value   float64
	Defined bool
	Reason  string // why it is not defined; empty when Defined
}

func defined(v float64) Factor {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return undefined("not a finite number")
	}
	return Factor{Value: v, Defined: true}
}

func undefined(reason string) Factor { return Factor{Reason: reason} }

// MarshalJSON encodes the value, or null when not defined.
func (f Factor) MarshalJSON() ([]byte, error) {
	if !f.Defined {
		return []byte("null"), nil
	}
	return json.Marshal(f.Value)
}

// ratio is a/b of two defined factors.
func ratio(a, b Factor) Factor {
	switch {
	case !a.Defined:
		return undefined(a.Reason + " in period 1")
	case !b.Defined:
		return undefined(b.Reason + " in period 0")
	case b.Value == 0:
		return undefined("zero in period 0")
	}
	return defined(a.Value / b.Value)
}

func countRatio(a, b float64, what string) Factor {
	if b == 0 {
		return undefined("no " + what + " in period 0")
	}
	return defined(a / b)
}

// UnmarshalJSON reads a number, or null as not defined.
func (f *Factor) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = undefined("null")
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = defined(v)
	return nil
}
