package schemas

// The fast path reads events in the exact layout AppendJSON writes (the
// layout of every event `emit` produces): keys in a fixed order, no
// whitespace, plain strings, no attributes. It compares constant key
// literals instead of parsing keys. Anything else, a single byte off,
// returns false and the general parser reads the message from the start, so
// both paths accept and reject the same messages (FuzzDecode checks).

type fastField struct {
	lit string // `,"name":`
	idx int    // string field index
}

var (
	fastOptional1 = []fastField{{`,"task_id":`, sTaskID}, {`,"task_type":`, sTaskType}}
	fastOptional2 = []fastField{{`,"app":`, sApp}, {`,"provider":`, sProvider}, {`,"model":`, sModel},
		{`,"operation":`, sOperation}, {`,"status":`, sStatus}}
	fastUsage = [...]string{`"input_tokens":`, `"output_tokens":`, `"cache_read_tokens":`, `"cache_write_tokens":`,
		`"cache_write_1h_tokens":`, `"reasoning_tokens":`}
	fastUsageNext = func() (out [len(fastUsage)]string) { // the same, after a comma
		for i, s := range fastUsage {
			out[i] = "," + s
		}
		return out
	}()
)

type cursor struct {
	b []byte
	i int
}

func (c *cursor) lit(s string) bool {
	if len(c.b)-c.i >= len(s) && string(c.b[c.i:c.i+len(s)]) == s {
		c.i += len(s)
		return true
	}
	return false
}

// str reads a plain string (printable ASCII, no escapes) and returns its
// span inside the quotes.
func (c *cursor) str() (span, bool) {
	if c.i >= len(c.b) || c.b[c.i] != '"' {
		return span{}, false
	}
	start := c.i + 1
	j := start
	for j < len(c.b) && plainByte[c.b[j]] {
		j++
	}
	if j == len(c.b) || c.b[j] != '"' {
		return span{}, false
	}
	c.i = j + 1
	return span{start, j, true}, true
}

// uint reads 1 to 18 digits without a leading zero (unless it is "0").
func (c *cursor) uint() (int64, bool) {
	start := c.i
	var n int64
	for c.i < len(c.b) && c.i-start < 18 && c.b[c.i] >= '0' && c.b[c.i] <= '9' {
		n = n*10 + int64(c.b[c.i]-'0')
		c.i++
	}
	if c.i == start || (c.b[start] == '0' && c.i > start+1) || (c.i < len(c.b) && c.b[c.i] >= '0' && c.b[c.i] <= '9') {
		return 0, false
	}
	return n, true
}

// fast scans data in the canonical layout into d.spans and e's numbers.
func (d *Decoder) fast(data []byte, e *Event) bool {
	c := cursor{b: data}
	field := func(idx int) bool {
		sp, ok := c.str()
		if ok {
			d.spans[idx] = sp
			d.present |= 1 << idx
		}
		return ok
	}
	if !c.lit(`{"event_id":`) || !field(sEventID) || !c.lit(`,"time":`) || !field(sTime) || !c.lit(`,"tenant":`) || !field(sTenant) {
		return false
	}
	for _, f := range fastOptional1 {
		if c.lit(f.lit) && !field(f.idx) {
			return false
		}
	}
	e.TaskDone = c.lit(`,"task_done":true`)
	for _, f := range fastOptional2 {
		if c.lit(f.lit) && !field(f.idx) {
			return false
		}
	}
	if c.lit(`,"latency_ms":`) {
		n, ok := c.uint()
		if !ok {
			return false
		}
		e.LatencyMs = n
	}
	if !c.lit(`,"usage":{`) {
		return false
	}
	counts := [...]*int64{&e.Usage.InputTokens, &e.Usage.OutputTokens, &e.Usage.CacheReadTokens,
		&e.Usage.CacheWriteTokens, &e.Usage.CacheWrite1hTokens, &e.Usage.ReasoningTokens}
	first := true
	for i, name := range fastUsage {
		if !first {
			name = fastUsageNext[i]
		}
		if !c.lit(name) {
			continue
		}
		n, ok := c.uint()
		if !ok {
			return false
		}
		*counts[i] = n
		first = false
	}
	if !c.lit(`}}`) || c.i != len(data) {
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
