package gateway

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/schemas"
)

// sink records what the gateway produced; fail makes Produce fail.
type sink struct {
	mu   sync.Mutex
	msgs []kafka.Message
	fail error
}

func (s *sink) Produce(_ context.Context, msgs []kafka.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.msgs = append(s.msgs, msgs...)
	return nil
}

func (s *sink) events(t *testing.T) []schemas.Event {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var d schemas.Decoder
	out := make([]schemas.Event, len(s.msgs))
	for i, m := range s.msgs {
		if err := d.Decode(m.Value, &out[i]); err != nil {
			t.Fatalf("produced an invalid event: %v", err)
		}
		if string(m.Key) != out[i].Key() {
			t.Fatalf("key %q, want %q", m.Key, out[i].Key())
		}
	}
	return out
}

type fixture struct {
	t      *testing.T
	g      *Gateway
	sink   *sink
	key    string
	now    time.Time
	server http.Handler
}

func newFixture(t *testing.T, tune func(*Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, sink: &sink{}, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "keys.json")
	secret, k, err := NewKey("acme", f.now)
	if err != nil {
		t.Fatal(err)
	}
	_, other, _ := NewKey("globex", f.now)
	if err := WriteKeysFile(path, KeysFile{Keys: []Key{k, other}}); err != nil {
		t.Fatal(err)
	}
	f.key = secret
	cfg := DefaultConfig()
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.KeysFile = "127.0.0.1:0", "", path
	cfg.Now = func() time.Time { return f.now }
	if tune != nil {
		tune(&cfg)
	}
	if f.g, err = New(cfg, f.sink, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.g.httpLn.Close() })
	f.server = f.g.routes()
	return f
}

func (f *fixture) post(path, contentType string, body []byte, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	r.Header.Set("Authorization", "Bearer "+f.key)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	f.server.ServeHTTP(w, r)
	return w
}

func event(id string, extra string) string {
	return fmt.Sprintf(`{"event_id":%q,"time":"2026-03-01T11:59:00Z","provider":"openai","model":"gpt-4o","usage":{"input_tokens":10,"output_tokens":2}%s}`, id, extra)
}

func decodeResp(t *testing.T, w *httptest.ResponseRecorder) EventsResponse {
	t.Helper()
	var r EventsResponse
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
		t.Fatalf("response %d %q: %v", w.Code, w.Body, err)
	}
	return r
}

func TestEventsPartialBatchAcceptsTheGoodOnes(t *testing.T) {
	f := newFixture(t, nil)
	body := "[" + strings.Join([]string{event("a", ""), event("b", `,"tenant":"acme"`), event("a", ""),
		`{"event_id":"c","time":"2026-03-01T11:59:00Z","provider":"openai","usage":{"input_tokens":-1}}`}, ",") + "]"
	w := f.post("/v1/events", "application/json", []byte(body))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	r := decodeResp(t, w)
	if r.Accepted != 2 || r.Duplicates != 1 || r.Rejected != 1 {
		t.Fatalf("counts %+v", r)
	}
	bad := r.Results[3]
	if bad.Status != "rejected" || len(bad.Errors) != 2 || bad.Errors[0].Field != "model" || bad.Errors[1].Field != "usage.input_tokens" {
		t.Fatalf("rejection %+v", bad)
	}
	evs := f.sink.events(t)
	if len(evs) != 2 || evs[0].Tenant != "acme" || evs[1].EventID != "b" {
		t.Fatalf("produced %+v", evs)
	}
}

func TestEventsAtomicRejectsTheWholeBatch(t *testing.T) {
	f := newFixture(t, nil)
	w := f.post("/v1/events?atomic=true", "application/x-ndjson", []byte(event("a", "")+"\n\n"+`{"event_id":"b"}`+"\n"))
	if w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if r := decodeResp(t, w); r.Results[0].Status != "not_sent" || r.Results[1].Status != "rejected" {
		t.Fatalf("results %+v", r.Results)
	}
	if n := len(f.sink.events(t)); n != 0 {
		t.Fatalf("%d events produced", n)
	}
}

func TestEventsGzipNDJSON(t *testing.T) {
	f := newFixture(t, nil)
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	for i := range 50 {
		fmt.Fprintln(zw, event(fmt.Sprint("e", i), ""))
	}
	zw.Close()
	w := f.post("/v1/events", "application/x-ndjson", b.Bytes(), "Content-Encoding", "gzip")
	if w.Code != http.StatusOK || decodeResp(t, w).Accepted != 50 || len(f.sink.events(t)) != 50 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
}

func TestRequestFailures(t *testing.T) {
	tests := []struct {
		name     string
		tune     func(*Config)
		prep     func(*fixture)
		path     string
		body     string
		hdr      []string
		code     int
		msg      string
		retry    bool
		produced int
	}{
		{name: "no key is 401", prep: func(f *fixture) { f.key = "" }, path: "/v1/events", body: event("a", ""), code: 401, msg: "missing API key"},
		{name: "an unknown key is 401", prep: func(f *fixture) { f.key = "jvk_00000000_00" }, path: "/v1/events", body: event("a", ""), code: 401, msg: "unknown API key"},
		{name: "an event of another tenant is 403 and nothing is produced", path: "/v1/events",
			body: event("a", "") + "\n" + event("b", `,"tenant":"globex"`), code: 403, msg: "but the key belongs to tenant"},
		{name: "provider usage naming another tenant is 403", path: "/v1/usage/openai", hdr: []string{"X-Jevons-Tenant", "globex"},
			body: `{"id":"x","model":"gpt-4o","usage":{"prompt_tokens":1,"completion_tokens":1}}`, code: 403, msg: "belongs to tenant"},
		{name: "a body over the limit is 413", tune: func(c *Config) { c.MaxBodyBytes = 1024 }, path: "/v1/events",
			body: strings.Repeat(event("a", "")+"\n", 20), code: 413, msg: "larger than 1024 bytes"},
		{name: "too many events is 413", tune: func(c *Config) { c.MaxEventsPerRequest = 2 }, path: "/v1/events",
			body: strings.Repeat(event("a", "")+"\n", 3), code: 413, msg: "at most 2"},
		{name: "over the rate is 429 with Retry-After", tune: func(c *Config) { c.RatePerSec, c.RateBurst, c.MaxEventsPerRequest = 1, 2, 2 },
			prep: func(f *fixture) { f.post("/v1/events", "application/json", []byte(event("x", "")+"\n"+event("y", ""))) },
			path: "/v1/events", body: event("a", ""), code: 429, msg: "over its rate", retry: true, produced: 2},
		{name: "Kafka failing is 503 with Retry-After", prep: func(f *fixture) { f.sink.fail = errors.New("broker down") },
			path: "/v1/events", body: event("a", ""), code: 503, msg: "did not acknowledge", retry: true},
		{name: "a malformed array is 400", path: "/v1/events", body: "[" + event("a", ""), code: 400, msg: "not closed"},
		{name: "OTLP metrics are 501 with the reason", path: "/v1/metrics", body: "{}", code: 501, msg: "histograms summed over many requests"},
		{name: "an unknown provider is 404", path: "/v1/usage/mistral", body: "{}", code: 404, msg: "unknown provider"},
		{name: "a provider body without usage is 422", path: "/v1/usage/openai", body: `{"id":"x","model":"gpt-4o"}`, code: 422, msg: "neither prompt_tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.tune)
			if tt.prep != nil {
				tt.prep(f)
			}
			w := f.post(tt.path, "application/json", []byte(tt.body), tt.hdr...)
			if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.msg) {
				t.Fatalf("got %d %s, want %d containing %q", w.Code, w.Body, tt.code, tt.msg)
			}
			if got := w.Header().Get("Retry-After") != ""; got != tt.retry {
				t.Fatalf("Retry-After %q, want present=%v", w.Header().Get("Retry-After"), tt.retry)
			}
			if n := len(f.sink.msgs); n != tt.produced {
				t.Fatalf("%d events produced, want %d", n, tt.produced)
			}
		})
	}
}

func TestCardinalityCapCountsUnderOther(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxCardinality = 2 })
	var lines []string
	for i := range 4 {
		lines = append(lines, event(fmt.Sprint("e", i), fmt.Sprintf(`,"app":"app-%d"`, i)))
	}
	w := f.post("/v1/events", "application/x-ndjson", []byte(strings.Join(lines, "\n")))
	r := decodeResp(t, w)
	if w.Code != 200 || r.Accepted != 4 || r.Capped != 2 || !r.Results[3].Capped || !strings.Contains(r.Note, "other") {
		t.Fatalf("%d %+v", w.Code, r)
	}
	evs := f.sink.events(t)
	if evs[1].App != "app-1" || evs[2].App != Other || evs[3].TaskType != Other || evs[3].Model != "gpt-4o" {
		t.Fatalf("produced %+v", evs)
	}
	f.now = f.now.Add(24 * time.Hour) // a new day starts a new set
	w = f.post("/v1/events", "application/x-ndjson", []byte(event("n", `,"app":"app-3"`)))
	if r := decodeResp(t, w); r.Capped != 0 {
		t.Fatalf("next day: %+v", r)
	}
}

func TestKeysReloadAndRevoke(t *testing.T) {
	f := newFixture(t, nil)
	kf, err := ReadKeysFile(f.g.cfg.KeysFile)
	if err != nil {
		t.Fatal(err)
	}
	if n := kf.Revoke("", "acme", f.now); n != 1 {
		t.Fatalf("revoked %d", n)
	}
	time.Sleep(10 * time.Millisecond) // a later modification time
	if err := WriteKeysFile(f.g.cfg.KeysFile, kf); err != nil {
		t.Fatal(err)
	}
	if changed, err := f.g.keys.Reload(); !changed || err != nil {
		t.Fatalf("reload: %v %v", changed, err)
	}
	w := f.post("/v1/events", "application/json", []byte(event("a", "")))
	if w.Code != 401 || !strings.Contains(w.Body.String(), "revoked") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if err := os.WriteFile(f.g.cfg.KeysFile, []byte("{broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.g.keys.Reload(); err == nil {
		t.Fatal("a broken keys file reloaded without error")
	}
	if w := f.post("/v1/events", "application/json", []byte(event("a", ""))); w.Code != 401 {
		t.Fatalf("after a broken reload: %d", w.Code)
	}
}

func TestProviderUsage(t *testing.T) {
	f := newFixture(t, nil)
	w := f.post("/v1/usage/anthropic?task_id=run-1", "application/json",
		[]byte(`{"id":"msg_1","model":"claude-sonnet-4-20250514","usage":{"input_tokens":10,"cache_read_input_tokens":90,"output_tokens":5}}`),
		"X-Jevons-App", "bot", "X-Jevons-Latency-Ms", "812")
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	ev := f.sink.events(t)[0]
	if ev.EventID != "msg_1" || ev.TaskID != "run-1" || ev.App != "bot" || ev.LatencyMs != 812 || ev.Usage.InputTokens != 100 || ev.Time != f.now {
		t.Fatalf("%+v", ev)
	}
	if w := f.post("/v1/usage/openai", "application/json", []byte(`{"usage":{"prompt_tokens":1}}`), "X-Jevons-Latency-Ms", "-3"); w.Code != 422 ||
		!strings.Contains(w.Body.String(), "latency_ms") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func TestSplitBatch(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
		err        string
	}{
		{"an array with nested brackets in strings", `[ {"a":"]}"} , {"b":[1,{"c":2}]} ]`, []string{`{"a":"]}"}`, `{"b":[1,{"c":2}]}`}, ""},
		{"NDJSON with blank lines", "{\"a\":1}\n\n  {\"b\":2}\r\n", []string{`{"a":1}`, `{"b":2}`}, ""},
		{"an empty array", `[]`, nil, ""},
		{"a trailing comma", `[{"a":1},]`, nil, "trailing comma"},
		{"data after the array", `[{"a":1}] x`, nil, "data after"},
		{"an unclosed array", `[{"a":1}`, nil, "not closed"},
		{"an escaped quote", `[{"a":"x\"]"}]`, []string{`{"a":"x\"]"}`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splitBatch([]byte(tt.body), false)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("got %q, %v", got, err)
			}
			for i := range got {
				if string(got[i]) != tt.want[i] {
					t.Fatalf("element %d: %q, want %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}
