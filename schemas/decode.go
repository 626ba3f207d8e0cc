package schemas

import (
	"fmt"
	"time"
)

// SyntaxError is a message that is not one well-formed JSON object.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("malformed JSON at byte %d: %s", e.Offset, e.Msg)
}

// Decoder decodes schema v1 events. It is strict (unknown fields, wrong
// types and duplicate fields are violations) and fast: all of an event's
// strings share one allocation. A Decoder is not safe for concurrent use;
// reuse one per goroutine.
type Decoder struct {
	// Shared lets decoded strings alias the input instead of copying it:
	// one allocation less per event, for callers that copy whatever they
	// keep before they modify or reuse the input.
	Shared bool

	noFast bool // tests: always take the general path

	buf     []byte // unescaped string bytes of the event being decoded
	data    []byte // the input, while decoding
	spans   [numStrings]span
	present uint32
}

type span struct {
	off, end int
	inData   bool // the span indexes the input, not buf
}

// String fields, in the order of their spans.
const (
	sEventID = iota
	sTime
	sTenant
	sTaskID
	sTaskType
	sApp
	sProvider
	sModel
	sOperation
	sStatus
	numStrings
)

const (
	fTaskDone = numStrings + iota
	fLatency
	fUsage
	fAttributes
	numFields
)

// topField and usageField map field names to indexes; a switch on a string
// compiles to length-and-compare code and needs no hashing.
func topField(k string) int {
	switch k {
	case "event_id":
		return sEventID
	case "time":
		return sTime
	case "tenant":
		return sTenant
	case "task_id":
		return sTaskID
	case "task_type":
		return sTaskType
	case "app":
		return sApp
	case "provider":
		return sProvider
	case "model":
		return sModel
	case "operation":
		return sOperation
	case "status":
		return sStatus
	case "task_done":
		return fTaskDone
	case "latency_ms":
		return fLatency
	case "usage":
		return fUsage
	case "attributes":
		return fAttributes
	}
	return -1
}

var usageFieldNames = [...]string{"input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens", "reasoning_tokens"}

func usageField(k string) int {
	for i, n := range usageFieldNames {
		if n == k {
			return i
		}
	}
	return -1
}

var stringFieldNames = [numStrings]string{"event_id", "time", "tenant", "task_id", "task_type", "app", "provider", "model", "operation", "status"}

// Decode parses data into e and validates it. It returns a *SyntaxError for
// malformed JSON and a *ValidationError listing every violation otherwise.
func (d *Decoder) Decode(data []byte, e *Event) error {
	*e = Event{}
	if len(data) > MaxMessageBytes {
		return &ValidationError{[]Violation{{"", fmt.Sprintf("message larger than %d bytes", MaxMessageBytes)}}}
	}
	d.buf, d.present, d.data = d.buf[:0], 0, data
	defer func() { d.data = nil }()
	var v ValidationError
	if d.noFast || !d.fast(data, e) {
		if err := d.general(data, e, &v); err != nil {
			return err
		}
	}
	d.finishStrings(e, &v)
	e.ApplyDefaults()
	e.check(&v)
	if len(v.Violations) > 0 {
		v.dedupe()
		return &ValidationError{v.Violations} // a copy: v itself stays off the heap
	}
	return nil
}

// general reads any strict JSON layout, field by field.
func (d *Decoder) general(data []byte, e *Event, v *ValidationError) error {
	*e = Event{}
	d.buf, d.present = d.buf[:0], 0
	p := parser{data: data}
	if err := p.open(); err != nil {
		return err
	}
	for {
		key, more, err := p.next()
		if err != nil {
			return err
		}
		if !more {
			break
		}
		if err := d.topField(&p, key, e, v); err != nil {
			return err
		}
	}
	p.ws()
	if p.i != len(data) {
		return p.fail("trailing data after the event object")
	}
	return nil
}

// dedupe keeps the first violation of each field: a field with a wrong type
// is not also reported as missing.
func (e *ValidationError) dedupe() {
	out := e.Violations[:0]
	for _, x := range e.Violations {
		dup := false
		for _, y := range out {
			dup = dup || x.Field == y.Field
		}
		if !dup {
			out = append(out, x)
		}
	}
	e.Violations = out
}

func (d *Decoder) topField(p *parser, key []byte, e *Event, v *ValidationError) error {
	f := topField(bytesToString(key))
	if f < 0 {
		v.add(string(key), "unknown field")
		return p.skip()
	}
	if d.present&(1<<f) != 0 {
		v.add(string(key), "duplicate field")
	}
	d.present |= 1 << f
	if p.literal("null") { // null means absent; required fields then report "required"
		d.present &^= 1 << f
		return nil
	}
	switch {
	case f < numStrings:
		if p.peek() != '"' {
			v.add(stringFieldNames[f], "want a string")
			return p.skip()
		}
		if d.Shared {
			start := p.i + 1
			if _, ok := p.plain(); ok {
				d.spans[f] = span{start, p.i - 1, true}
				return nil
			}
		}
		off := len(d.buf)
		var err error
		if d.buf, err = p.str(d.buf); err != nil {
			return err
		}
		d.spans[f] = span{off, len(d.buf), false}
	case f == fTaskDone:
		b, ok, err := p.boolean()
		if err != nil {
			return err
		}
		if !ok {
			v.add("task_done", "want true or false")
		}
		e.TaskDone = b
	case f == fLatency:
		n, ok, err := p.integer()
		if err != nil {
			return err
		}
		if !ok {
			v.add("latency_ms", "want an integer")
		}
		e.LatencyMs = n
	case f == fUsage:
		if p.peek() != '{' {
			v.add("usage", "want an object")
			return p.skip()
		}
		return d.usage(p, &e.Usage, v)
	case f == fAttributes:
		return d.attributes(p, e, v)
	}
	return nil
}

func (d *Decoder) usage(p *parser, u *Usage, v *ValidationError) error {
	var seen uint8
	if err := p.open(); err != nil {
		return err
	}
	for {
		key, more, err := p.next()
		if err != nil || !more {
			return err
		}
		i := usageField(bytesToString(key))
		if i < 0 {
			v.add("usage."+string(key), "unknown field")
			if err := p.skip(); err != nil {
				return err
			}
			continue
		}
		if seen&(1<<i) != 0 {
			v.add("usage."+string(key), "duplicate field")
		}
		seen |= 1 << i
		n, ok, err := p.integer()
		if err != nil {
			return err
		}
		if !ok {
			v.add("usage."+string(key), "want an integer")
		}
		*[...]*int64{&u.InputTokens, &u.OutputTokens, &u.CacheReadTokens, &u.CacheWriteTokens, &u.CacheWrite1hTokens, &u.ReasoningTokens}[i] = n
	}
}

func (d *Decoder) attributes(p *parser, e *Event, v *ValidationError) error {
	if p.peek() != '{' {
		v.add("attributes", "want an object of strings")
		return p.skip()
	}
	e.Attributes = map[string]string{}
	if err := p.open(); err != nil {
		return err
	}
	for {
		key, more, err := p.next()
		if err != nil || !more {
			return err
		}
		k := string(key)
		if p.peek() != '"' {
			v.add("attributes."+k, "want a string")
			if err := p.skip(); err != nil {
				return err
			}
			continue
		}
		val, err := p.str(nil)
		if err != nil {
			return err
		}
		e.Attributes[k] = string(val)
	}
}

// finishStrings turns the spans into strings sharing one allocation.
func (d *Decoder) finishStrings(e *Event, v *ValidationError) {
	all := ""
	if len(d.buf) > 0 {
		all = string(d.buf)
	}
	get := func(i int) string {
		sp := d.spans[i]
		switch {
		case d.present&(1<<i) == 0:
			return ""
		case sp.inData:
			return bytesToString(d.data[sp.off:sp.end])
		}
		return all[sp.off:sp.end]
	}
	e.EventID, e.Tenant, e.TaskID, e.TaskType = get(sEventID), get(sTenant), get(sTaskID), get(sTaskType)
	e.App, e.Provider, e.Model = get(sApp), get(sProvider), get(sModel)
	e.Operation, e.Status = get(sOperation), get(sStatus)
	if ts := get(sTime); ts != "" {
		t, err := parseTime(ts)
		if err != nil {
			v.add("time", "want RFC 3339 such as 2025-06-01T12:00:00Z, got %q", ts)
		}
		e.Time = t
	}
}

// parseTime reads RFC 3339. The common UTC form with up to nanosecond
// fractions, YYYY-MM-DDTHH:MM:SS[.f]Z, is parsed directly; others go
// through the time package.
func parseTime(s string) (time.Time, error) {
	if len(s) >= 20 && len(s) <= 30 && s[len(s)-1] == 'Z' && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' && s[16] == ':' {
		num := func(a, b int) (int, bool) {
			n, ok := 0, true
			for i := a; i < b; i++ {
				c := s[i] - '0'
				ok = ok && c <= 9
				n = n*10 + int(c)
			}
			return n, ok
		}
		y, ok1 := num(0, 4)
		mo, ok2 := num(5, 7)
		d, ok3 := num(8, 10)
		h, ok4 := num(11, 13)
		mi, ok5 := num(14, 16)
		sec, ok6 := num(17, 19)
		ns, okF := 0, true
		if frac := s[19 : len(s)-1]; frac != "" {
			if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
				okF = false
			} else {
				var v int
				v, okF = num(20, len(s)-1)
				for k := len(frac) - 1; k < 9; k++ {
					v *= 10
				}
				ns = v
			}
		}
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && okF && mo >= 1 && mo <= 12 && d >= 1 && d <= daysIn(mo, y) && h < 24 && mi < 60 && sec < 60 {
			// time.Date's normalization is not needed for a valid date,
			// and cost more than the rest of the parse.
			unix := int64(daysFromCivil(y, mo, d))*86400 + int64(h*3600+mi*60+sec)
			return time.Unix(unix, int64(ns)).UTC(), nil
		}
	}
	return time.Parse(time.RFC3339Nano, s)
}

// daysFromCivil returns the days from 1970-01-01 to the proleptic
// Gregorian date y-m-d (Howard Hinnant's algorithm: years counted from
// March, in 400-year eras of 146,097 days).
func daysFromCivil(y, m, d int) int {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399 // floor division
	}
	era /= 400
	yoe := y - era*400                     // [0, 399]
	doy := (153*((m+9)%12)+2)/5 + d - 1    // [0, 365], from March 1st
	doe := yoe*365 + yoe/4 - yoe/100 + doy // [0, 146096]
	return era*146097 + doe - 719468
}

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
