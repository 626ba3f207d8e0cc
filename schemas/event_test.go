package schemas

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

const validEvent = `{"event_id":"01J9ZK3Q8R","time":"2025-06-01T12:00:00.5Z","tenant":"acme","task_id":"run-7","task_type":"code-review",
 "task_done":true,"app":"reviewer","provider":"anthropic","model":"claude-sonnet-4-5","operation":"chat","status":"ok","latency_ms":812,
 "usage":{"input_tokens":12000,"output_tokens":900,"cache_read_tokens":8000,"cache_write_tokens":1000,"cache_write_1h_tokens":200,"reasoning_tokens":300},
 "attributes":{"region":"eu"}}`

func TestDecodeValidEvent(t *testing.T) {
	var d Decoder
	var e Event
	if err := d.Decode([]byte(validEvent), &e); err != nil {
		t.Fatal(err)
	}
	want := Event{EventID: "01J9ZK3Q8R", Time: time.Date(2025, 6, 1, 12, 0, 0, 5e8, time.UTC), Tenant: "acme", TaskID: "run-7",
		TaskType: "code-review", TaskDone: true, App: "reviewer", Provider: "anthropic", Model: "claude-sonnet-4-5",
		Operation: "chat", Status: "ok", LatencyMs: 812,
		Usage:      Usage{InputTokens: 12000, OutputTokens: 900, CacheReadTokens: 8000, CacheWriteTokens: 1000, CacheWrite1hTokens: 200, ReasoningTokens: 300},
		Attributes: map[string]string{"region": "eu"}}
	if !reflect.DeepEqual(e, want) {
		t.Fatalf("got  %+v\nwant %+v", e, want)
	}
}

func TestSharedDecodingGivesTheSameEvent(t *testing.T) {
	in := []byte(validEvent)
	var copied, shared Event
	if err := (&Decoder{}).Decode(in, &copied); err != nil {
		t.Fatal(err)
	}
	d := Decoder{Shared: true}
	if err := d.Decode(in, &shared); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(copied, shared) {
		t.Fatalf("shared %+v, copied %+v", shared, copied)
	}
	escaped := []byte(`{"event_id":"a\u00e9b","time":"2025-06-01T12:00:00Z","tenant":"t","provider":"p","model":"m"}`)
	if err := d.Decode(escaped, &shared); err != nil || shared.EventID != "a\u00e9b" {
		t.Fatalf("escaped string: %q, %v", shared.EventID, err)
	}
}

func TestDecodeAppliesDefaults(t *testing.T) {
	var d Decoder
	var e Event
	err := d.Decode([]byte(`{"event_id":"e1","time":"2025-06-01T12:00:00Z","tenant":"t","provider":"openai","model":"gpt-4o","task_id":null}`), &e)
	if err != nil {
		t.Fatal(err)
	}
	if e.TaskID != "e1" || e.Operation != "chat" || e.Status != "ok" || e.Usage != (Usage{}) {
		t.Fatalf("defaults not applied: %+v", e)
	}
}

func TestDecodeReportsEveryViolation(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string // field paths
	}{
		{"missing required fields are each named", `{}`, []string{"event_id", "model", "provider", "tenant", "time"}},
		{"unknown top-level fields are rejected", `{"event_id":"e","time":"2025-06-01T12:00:00Z","tenant":"t","provider":"p","model":"m","prompt":"secret"}`, []string{"prompt"}},
		{"bad tenant characters and a bad time", `{"event_id":"e","time":"yesterday","tenant":"a b","provider":"p","model":"m"}`, []string{"tenant", "time"}},
		{"wrong types are named by path", `{"event_id":1,"time":"2025-06-01T12:00:00Z","tenant":"t","provider":"p","model":"m","latency_ms":1.5,"task_done":"yes","usage":{"input_tokens":"9"}}`,
			[]string{"event_id", "latency_ms", "task_done", "usage.input_tokens"}},
		{"impossible usage is a violation", `{"event_id":"e","time":"2025-06-01T12:00:00Z","tenant":"t","provider":"p","model":"m","usage":{"input_tokens":5,"cache_read_tokens":4,"cache_write_tokens":2,"cache_write_1h_tokens":3,"output_tokens":1,"reasoning_tokens":2}}`,
			[]string{"usage", "usage.cache_write_1h_tokens", "usage.reasoning_tokens"}},
		{"token counts out of range", `{"event_id":"e","time":"2025-06-01T12:00:00Z","tenant":"t","provider":"p","model":"m","usage":{"input_tokens":-1,"output_tokens":1000000001,"cache_reads":1}}`,
			[]string{"usage.cache_reads", "usage.input_tokens", "usage.output_tokens"}},
		{"status outside ok/error, negative latency, duplicate field", `{"event_id":"e","event_id":"f","time":"2025-06-01T12:00:00Z","tenant":"t","provider":"p","model":"m","status":"fine","latency_ms":-3}`,
			[]string{"event_id", "latency_ms", "status"}},
		{"too many attributes", `{"event_id":"e","time":"2025-06-01T12:00:00Z","tenant":"t","provider":"p","model":"m","attributes":{` + manyAttrs(17) + `}}`, []string{"attributes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decoder
			var e Event
			err := d.Decode([]byte(tt.input), &e)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a validation error", err)
			}
			var got []string
			for _, v := range ve.Violations {
				got = append(got, v.Field)
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("violations %v, want %v (%v)", got, tt.want, err)
			}
		})
	}
}

func manyAttrs(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, `"k`+string(rune('a'+i))+`":"v"`)
	}
	return strings.Join(parts, ",")
}

func TestDecodeRejectsMalformedJSON(t *testing.T) {
	for _, in := range []string{``, `{`, `{"event_id":"e"`, `[]`, `{"a":1}{}`, `{"event_id":"\x01"}`, `{"event_id":"e",}`, "{\"event_id\":\"\xff\"}", `{"latency_ms":01}`} {
		var d Decoder
		var e Event
		err := d.Decode([]byte(in), &e)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: got %v, want a syntax error", in, err)
		}
	}
}

func TestEncodeRoundTrips(t *testing.T) {
	var d Decoder
	var e Event
	if err := d.Decode([]byte(validEvent), &e); err != nil {
		t.Fatal(err)
	}
	e.App = "quote\" back\\slash \n tab\t \u2603 \x01"
	b := AppendJSON(nil, &e)
	var back Event
	if err := d.Decode(b, &back); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if !reflect.DeepEqual(back, e) {
		t.Fatalf("round trip changed the event:\n%+v\n%+v", e, back)
	}
	if !json.Valid(b) {
		t.Fatalf("encoder wrote invalid JSON: %s", b)
	}
}

// The JSON Schema file and the decoder must name the same fields.
func TestJSONSchemaMatchesDecoder(t *testing.T) {
	raw, err := os.ReadFile("event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Required   []string `json:"required"`
		Properties map[string]struct {
			Properties map[string]any `json:"properties"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	var schemaTop, decTop, schemaUsage, decUsage []string
	for k := range s.Properties {
		schemaTop = append(schemaTop, k)
	}
	for k := range s.Properties {
		if topField(k) >= 0 {
			decTop = append(decTop, k)
		}
	}
	if len(s.Properties) != numFields {
		t.Errorf("schema has %d properties, decoder %d", len(s.Properties), numFields)
	}
	for k := range s.Properties["usage"].Properties {
		schemaUsage = append(schemaUsage, k)
	}
	decUsage = append(decUsage, usageFieldNames[:]...)
	for _, l := range [][]string{schemaTop, decTop, schemaUsage, decUsage, s.Required} {
		sort.Strings(l)
	}
	if !reflect.DeepEqual(schemaTop, decTop) || !reflect.DeepEqual(schemaUsage, decUsage) {
		t.Fatalf("schema fields %v / %v, decoder fields %v / %v", schemaTop, schemaUsage, decTop, decUsage)
	}
	var d Decoder
	var e Event
	ve := &ValidationError{}
	if !errors.As(d.Decode([]byte(`{}`), &e), &ve) || len(ve.Violations) != len(s.Required) {
		t.Fatalf("required fields in schema %v, decoder reports %v", s.Required, ve.Violations)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(validEvent))
	f.Add([]byte(`{"event_id":"\ud83d\ude00","usage":{"input_tokens":1e3}}`))
	f.Add([]byte(`{"event_id":"e","time":"2025-06-01T12:00:00Z","tenant":"t","provider":"p","model":"m","usage":{,"output_tokens":5}}`))
	for i, ev := range []Event{
		{EventID: "a", Time: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), Tenant: "t", Provider: "p", Model: "m"},
		{EventID: "b", Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Tenant: "t", TaskID: "k", TaskType: "x", TaskDone: true,
			App: "a", Provider: "p", Model: "m", Operation: "chat", Status: "error", LatencyMs: 10,
			Usage: Usage{InputTokens: 9, OutputTokens: 3, CacheReadTokens: 2, CacheWriteTokens: 1, CacheWrite1hTokens: 1, ReasoningTokens: 2}},
		{EventID: "c", Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Tenant: "t", Provider: "p", Model: "m", Usage: Usage{OutputTokens: 5, ReasoningTokens: 7}},
	} {
		f.Add(AppendJSON(nil, &ev))
		_ = i
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Decoder
		var e, shared, general Event
		err := d.Decode(data, &e)
		errShared := (&Decoder{Shared: true}).Decode(data, &shared)
		errGeneral := (&Decoder{noFast: true}).Decode(data, &general)
		if (err == nil) != (errShared == nil) || !reflect.DeepEqual(e, shared) {
			t.Fatalf("shared decoding differs for %q: %v / %v", data, err, errShared)
		}
		if fmt.Sprint(err) != fmt.Sprint(errGeneral) || !reflect.DeepEqual(e, general) {
			t.Fatalf("fast path differs from the general parser for %q:\n%v %+v\n%v %+v", data, err, e, errGeneral, general)
		}
		if err != nil {
			return
		}
		// A valid event must survive encode/decode unchanged.
		var back Event
		if err := d.Decode(AppendJSON(nil, &e), &back); err != nil {
			t.Fatalf("re-decode of %q failed: %v", data, err)
		}
		if !back.Time.Equal(e.Time) || back.EventID != e.EventID || back.Usage != e.Usage {
			t.Fatalf("round trip changed %q", data)
		}
	})
}

func BenchmarkDecode(b *testing.B) { benchDecode(b, &Decoder{}) }

// BenchmarkDecodeShared is BenchmarkDecode as the aggregator decodes: the
// strings share the message's bytes.
func BenchmarkDecodeShared(b *testing.B) { benchDecode(b, &Decoder{Shared: true}) }

func benchDecode(b *testing.B, d *Decoder) {
	data := []byte(`{"event_id":"01J9ZK3Q8R6W1M2N3P4Q5R6S7T","time":"2025-06-01T12:00:00.123Z","tenant":"acme","task_id":"run-7","task_type":"code-review","app":"reviewer","provider":"anthropic","model":"claude-sonnet-4-5","latency_ms":812,"usage":{"input_tokens":12000,"output_tokens":900,"cache_read_tokens":8000,"reasoning_tokens":300}}`)
	var e Event
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for range b.N {
		if err := d.Decode(data, &e); err != nil {
			b.Fatal(err)
		}
	}
}

// The direct parse of the common UTC form gives the instant the time
// package gives, from year 0 to 9999: leap days, century years, the ends
// of months and fractions of every length.
func TestParseTimeIsTheTimePackagesParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(s string) {
		t.Helper()
		want, werr := time.Parse(time.RFC3339Nano, s)
		got, err := parseTime(s)
		if (err == nil) != (werr == nil) || !got.Equal(want) || got != want.UTC() {
			t.Fatalf("%s: got %v (%v), want %v (%v)", s, got, err, want, werr)
		}
	}
	for _, s := range []string{"0000-01-01T00:00:00Z", "0000-02-29T23:59:59.999999999Z", "0000-03-01T00:00:00Z",
		"1582-10-15T00:00:00Z", "1900-02-28T12:00:00Z", "1969-12-31T23:59:59.5Z", "1970-01-01T00:00:00Z",
		"2000-02-29T00:00:00Z", "2100-02-28T00:00:00Z", "2024-12-31T23:59:59.1Z", "9999-12-31T23:59:59.123456789Z"} {
		check(s)
	}
	for range 200_000 {
		y, mo := rng.IntN(10000), 1+rng.IntN(12)
		d := 1 + rng.IntN(daysIn(mo, y))
		frac := ""
		if n := rng.IntN(10); n > 0 {
			frac = fmt.Sprintf(".%0*d", n, rng.IntN(int(math.Pow10(n))))
		}
		check(fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d%sZ", y, mo, d, rng.IntN(24), rng.IntN(60), rng.IntN(60), frac))
	}
}

func BenchmarkParseTime(b *testing.B) {
	for range b.N {
		if _, err := parseTime("2026-03-01T12:34:56.789Z"); err != nil {
			b.Fatal(err)
		}
	}
}

// The fast path reads strings eight bytes at a time: every byte value, at
// every place in a word, in strings of every length around a word's, is
// read (or refused, or left to the general parser) as the general parser
// reads it.
func TestFastPathReadsEveryByteOfAStringAsTheGeneralParser(t *testing.T) {
	for n := 1; n <= 19; n++ {
		for pos := range n {
			for c := range 256 {
				s := []byte(strings.Repeat("t", n))
				s[pos] = byte(c)
				data := fmt.Appendf(nil, `{"event_id":"e1","time":"2025-06-01T12:00:00Z","tenant":"%s","provider":"p","model":"m","usage":{"input_tokens":1}}`, s)
				var fast, shared, general Event
				err := (&Decoder{}).Decode(data, &fast)
				errShared := (&Decoder{Shared: true}).Decode(data, &shared)
				errGeneral := (&Decoder{noFast: true}).Decode(data, &general)
				if fmt.Sprint(err) != fmt.Sprint(errGeneral) || fmt.Sprint(errShared) != fmt.Sprint(errGeneral) ||
					!reflect.DeepEqual(fast, general) || !reflect.DeepEqual(shared, general) {
					t.Fatalf("byte %#x at %d of %d: fast %v %q, shared %v %q, general %v %q", c, pos, n, err, fast.Tenant, errShared, shared.Tenant, errGeneral, general.Tenant)
				}
				plain := c >= 0x20 && c < 0x80 && c != '"' && c != '\\'
				if took := (&Decoder{}).fast(data, &Event{}); took != plain {
					t.Fatalf("byte %#x at %d of %d: the fast path took the event: %v, want %v", c, pos, n, took, plain)
				}
			}
		}
	}
}

// Every subset of the usage counts, as AppendJSON writes it, is read by the
// fast path, and read as the general parser reads it.
func TestFastPathReadsEverySubsetOfTheCounts(t *testing.T) {
	for mask := range 1 << 6 {
		ev := Event{EventID: "e", Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Tenant: "t", Provider: "p", Model: "m"}
		u := &ev.Usage
		// Some subsets break the rules between counts (cache reads without
		// input): both paths must report it alike.
		for i, c := range []struct {
			dst *int64
			n   int64
		}{{&u.InputTokens, 100}, {&u.OutputTokens, 50}, {&u.CacheReadTokens, 30}, {&u.CacheWriteTokens, 20}, {&u.CacheWrite1hTokens, 10}, {&u.ReasoningTokens, 5}} {
			if mask&(1<<i) != 0 {
				*c.dst = c.n
			}
		}
		data := AppendJSON(nil, &ev)
		var fast, general Event
		if !(&Decoder{}).fast(data, &fast) {
			t.Fatalf("the fast path refused %s", data)
		}
		err := (&Decoder{}).Decode(data, &fast)
		errGeneral := (&Decoder{noFast: true}).Decode(data, &general)
		if fmt.Sprint(err) != fmt.Sprint(errGeneral) || !reflect.DeepEqual(fast, general) || fast.Usage != *u {
			t.Fatalf("%s: fast %v %+v, general %v %+v, want %+v", data, err, fast.Usage, errGeneral, general.Usage, *u)
		}
	}
}

// A comma the fast path does not expect leaves the message to the general
// parser, which refuses it: here, before the first count of usage.
func TestFastPathLeavesAStrayCommaInUsageToTheGeneralParser(t *testing.T) {
	for _, usage := range []string{`{,"output_tokens":5}`, `{,"reasoning_tokens":3}`, `{,"cache_read_tokens":1}`, `{,"input_tokens":1}`,
		`{"input_tokens":1,,"output_tokens":1}`, `{"input_tokens":1,}`} {
		data := []byte(`{"event_id":"e","time":"2025-06-01T12:00:00Z","tenant":"t","provider":"p","model":"m","usage":` + usage + `}`)
		if (&Decoder{}).fast(data, &Event{}) {
			t.Errorf("the fast path took %s", data)
		}
		var syntax *SyntaxError
		if err := (&Decoder{}).Decode(data, &Event{}); !errors.As(err, &syntax) {
			t.Errorf("%s: %v, want a syntax error", data, err)
		}
	}
}
