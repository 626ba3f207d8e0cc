package gateway

import (
	"net/http"
	"strings"
	"testing"

	"github.com/jevonsdev/jevons/ingest/otlp"
	"github.com/jevonsdev/jevons/schemas"
)

const otlpJSON = `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"reviewer"}}]},
 "scopeSpans":[{"scope":{"name":"genai"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
 "parentSpanId":"eee19b7ec3c1b173","name":"chat gpt-4o","kind":3,"startTimeUnixNano":"1772366400000000000","endTimeUnixNano":"1772366401250000000",
 "attributes":[{"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},{"key":"gen_ai.response.model","value":{"stringValue":"gpt-4o"}},
 {"key":"gen_ai.usage.input_tokens","value":{"intValue":"120"}},{"key":"gen_ai.usage.output_tokens","value":{"intValue":42}}],
 "links":[{"traceId":"5b8efff798038103d269b633813fc60d","spanId":"eee19b7ec3c1b175"}],"status":{"code":2}}]}]}]}`

func TestTracesJSON(t *testing.T) {
	f := newFixture(t, nil)
	w := f.post("/v1/traces", "application/json", []byte(otlpJSON))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	evs := f.sink.events(t)
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	e := evs[0]
	if e.EventID != "5b8efff798038103d269b633813fc60ceee19b7ec3c1b174" || e.TaskID != "5b8efff798038103d269b633813fc60c" || e.App != "reviewer" ||
		e.Usage.InputTokens != 120 || e.Usage.OutputTokens != 42 || e.Status != "error" || e.LatencyMs != 1250 {
		t.Fatalf("%+v", e)
	}
	bad := strings.Replace(otlpJSON, `"spanId":"eee19b7ec3c1b174"`, `"spanId":"xyz"`, 1)
	if w := f.post("/v1/traces", "application/json", []byte(bad)); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "spanId") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	noModel := strings.Replace(otlpJSON, `"gen_ai.response.model"`, `"other"`, 1)
	if w := f.post("/v1/traces", "application/json", []byte(noModel)); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"rejectedSpans":"1"`) ||
		!strings.Contains(w.Body.String(), "model: required") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func FuzzEventsBody(f *testing.F) {
	f.Add([]byte("["+event("a", "")+","+event("b", `,"tenant":"acme"`)+"]"), false)
	f.Add([]byte(event("a", "")+"\n"+`{"event_id":"x","usage":{"input_tokens":-1}}`+"\n"), true)
	f.Add([]byte(`[{"a":"]\"}"},[1,2],3]`), false)
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		raws, err := splitBatch(body, ndjson)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("a framing error without a reason")
			}
			return
		}
		var d schemas.Decoder
		for _, raw := range raws {
			var ev schemas.Event
			errs, forbidden := decodeEvent(&d, raw, "acme", &ev)
			if forbidden {
				continue
			}
			for _, e := range errs {
				if e.Reason == "" {
					t.Fatalf("a rejection without a reason: %+v", errs)
				}
			}
			if len(errs) == 0 {
				if err := ev.Validate(); err != nil || ev.Tenant != "acme" {
					t.Fatalf("accepted an invalid event: %v %+v", err, ev)
				}
			}
		}
	})
}

func FuzzOTLPJSON(f *testing.F) {
	f.Add([]byte(otlpJSON))
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"","attributes":[{"key":"gen_ai.usage.input_tokens","value":{"doubleValue":1.5}}]}]}]}]}`))
	m := otlp.New(otlp.DefaultConfig())
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeTraces(body, true)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("a decode error without a reason")
			}
			return
		}
		for _, r := range m.Map("acme", req.GetResourceSpans()) {
			if r.Err != nil {
				if strings.TrimSpace(r.Err.Error()) == "invalid event:" {
					t.Fatal("a rejection without a reason")
				}
				continue
			}
			if err := r.Event.Validate(); err != nil {
				t.Fatalf("accepted an invalid event: %v", err)
			}
		}
	})
}
