package schemas

import (
	"encoding/binary"
	"math/bits"
)

// The fast path reads events in the exact layout AppendJSON writes (the
// layout of every event `emit` produces): keys in a fixed order, no
// whitespace, plain strings, no attributes. It compares constant key
// literals instead of parsing keys. Anything else, a single byte off,
// returns false and the general parser reads the message from the start, so
// both paths accept and reject the same messages (FuzzDecode checks).

// lit reports whether b holds s at i. Called with a constant s, the
// compiler compares words in place (up to 16 bytes) instead of calling
// memequal: the literals below are written out at each use for that.
func lit(b []byte, i int, s string) bool {
	return len(b)-i >= len(s) && string(b[i:i+len(s)]) == s
}

// Byte-wise tests on 8 bytes at once (SWAR): haszero sets the high bit of
// each zero byte, and plainEnd marks bytes below 0x20 the same way. Bytes
// above the first marked one may be marked wrongly (a borrow runs upward),
// so only the lowest mark is used.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

func haszero(x uint64) uint64 { return (x - lsb) &^ x & msb }

// plainEnd returns the index of the first byte at or after i that is not
// printable ASCII or is '"' or '\\', or len(b).
func plainEnd(b []byte, i int) int {
	for ; len(b)-i >= 8; i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		// control (< 0x20) or 0x80 and above, '"', '\\'
		m := ((x - 0x20*lsb) | x) & msb
		m |= haszero(x^('"'*lsb)) | haszero(x^('\\'*lsb))
		if m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b) && plainByte[b[i]]; i++ {
	}
	return i
}

// str reads the plain string (printable ASCII, no escapes) at i and returns
// the index after its closing quote, or -1.
func (d *Decoder) str(b []byte, i, idx int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	j := plainEnd(b, i+1)
	if j == len(b) || b[j] != '"' {
		return -1
	}
	d.spans[idx] = span{i + 1, j, true}
	d.present |= 1 << idx
	return j + 1
}

// uintAt reads 1 to 18 digits at i without a leading zero (unless it is
// "0"): the value and the index after it, or -1.
func uintAt(b []byte, i int) (int64, int) {
	start := i
	var n int64
	for ; i < len(b) && i-start < 18; i++ {
		c := b[i] - '0'
		if c > 9 {
			break
		}
		n = n*10 + int64(c)
	}
	if i == start || (b[start] == '0' && i > start+1) || (i < len(b) && b[i]-'0' <= 9) {
		return 0, -1
	}
	return n, i
}

// fast scans data in the canonical layout into d.spans and e's numbers.
func (d *Decoder) fast(data []byte, e *Event) bool {
	b := data
	if !lit(b, 0, `{"event_id":`) {
		return false
	}
	i := d.str(b, 12, sEventID)
	if i < 0 || !lit(b, i, `,"time":`) {
		return false
	}
	if i = d.str(b, i+8, sTime); i < 0 || !lit(b, i, `,"tenant":`) {
		return false
	}
	if i = d.str(b, i+10, sTenant); i < 0 {
		return false
	}
	if lit(b, i, `,"task_id":`) {
		if i = d.str(b, i+11, sTaskID); i < 0 {
			return false
		}
	}
	if lit(b, i, `,"task_type":`) {
		if i = d.str(b, i+13, sTaskType); i < 0 {
			return false
		}
	}
	if lit(b, i, `,"task_done":`) && lit(b, i+13, `true`) {
		e.TaskDone, i = true, i+17
	}
	if lit(b, i, `,"app":`) {
		if i = d.str(b, i+7, sApp); i < 0 {
			return false
		}
	}
	if lit(b, i, `,"provider":`) {
		if i = d.str(b, i+12, sProvider); i < 0 {
			return false
		}
	}
	if lit(b, i, `,"model":`) {
		if i = d.str(b, i+9, sModel); i < 0 {
			return false
		}
	}
	if lit(b, i, `,"operation":`) {
		if i = d.str(b, i+13, sOperation); i < 0 {
			return false
		}
	}
	if lit(b, i, `,"status":`) {
		if i = d.str(b, i+10, sStatus); i < 0 {
			return false
		}
	}
	if lit(b, i, `,"latency_ms":`) {
		if e.LatencyMs, i = uintAt(b, i+14); i < 0 {
			return false
		}
	}
	if !lit(b, i, `,"usage":{`) {
		return false
	}
	i += 10
	// The counts, each optional, in order, a comma before all but the
	// first. The names are compared in pieces of at most 16 bytes: the
	// compiler compares such constants in place.
	u := &e.Usage
	if lit(b, i, `"input_tokens":`) {
		if u.InputTokens, i = uintAt(b, i+15); i < 0 {
			return false
		}
	}
	// next is where the count's name begins: after a comma unless no count
	// came before it.
	next := func() int {
		switch {
		case b[i-1] == '{':
			return i
		case i < len(b) && b[i] == ',':
			return i + 1
		}
		return -1
	}
	if j := next(); j >= 0 && lit(b, j, `"output_tokens":`) {
		if u.OutputTokens, i = uintAt(b, j+16); i < 0 {
			return false
		}
	}
	if j := next(); j >= 0 && lit(b, j, `"cache_`) {
		if lit(b, j+7, `read_tokens":`) {
			if u.CacheReadTokens, i = uintAt(b, j+20); i < 0 {
				return false
			}
			j = next()
		}
		if j >= 0 && lit(b, j, `"cache_write_tok`) && lit(b, j+16, `ens":`) {
			if u.CacheWriteTokens, i = uintAt(b, j+21); i < 0 {
				return false
			}
			j = next()
		}
		if j >= 0 && lit(b, j, `"cache_write_1h_`) && lit(b, j+16, `tokens":`) {
			if u.CacheWrite1hTokens, i = uintAt(b, j+24); i < 0 {
				return false
			}
		}
	}
	if j := next(); j >= 0 && lit(b, j, `"reasoning_`) && lit(b, j+11, `tokens":`) {
		if u.ReasoningTokens, i = uintAt(b, j+19); i < 0 {
			return false
		}
	}
	if !lit(b, i, `}}`) || i+2 != len(data) {
		return false
	}
	if !d.Shared { // copy the strings out, as the general path does
		for i := range d.spans {
			if d.present&(1<<i) != 0 {
				sp := &d.spans[i]
				off := len(d.buf)
				d.buf = append(d.buf, data[sp.off:sp.end]...)
				*sp = span{off, len(d.buf), false}
			}
		}
	}
	return true
}
