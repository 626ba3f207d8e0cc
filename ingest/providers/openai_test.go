package providers

import (
	"os"
	"strings"
	"testing"
)

func TestOpenAIUsageSplitsResultsIntoRequestsExactly(t *testing.T) {
	f, err := os.Open("testdata/openai-usage.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	evs, err := OpenAIUsage(f, OpenAIOptions{Tenant: "acme", App: "api"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 7+2+4 {
		t.Fatalf("%d events, want one per request: 13", len(evs))
	}
	type sums struct{ in, out, cached, n int64 }
	got := map[string]*sums{}
	ids := map[string]bool{}
	for _, ev := range evs {
		k := ev.Model + "|" + ev.App + "|" + ev.Operation + "|" + ev.Time.Format("2006-01-02")
		if got[k] == nil {
			got[k] = &sums{}
		}
		s := got[k]
		s.in, s.out, s.cached, s.n = s.in+ev.Usage.InputTokens, s.out+ev.Usage.OutputTokens, s.cached+ev.Usage.CacheReadTokens, s.n+1
		if ev.Usage.CacheReadTokens > ev.Usage.InputTokens {
			t.Fatalf("%s: cache reads %d exceed input %d", ev.EventID, ev.Usage.CacheReadTokens, ev.Usage.InputTokens)
		}
		if ids[ev.EventID] {
			t.Fatalf("event id %s twice", ev.EventID)
		}
		ids[ev.EventID] = true
		if err := ev.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]sums{
		"gpt-4o-mini-2024-07-18|api|chat|2026-01-01":  {100003, 20001, 60002, 7},
		"gpt-4o-2024-08-06|proj_abc|batch|2026-01-01": {5000, 900, 0, 2},
		"gpt-4o-mini-2024-07-18|api|chat|2026-01-02":  {3, 1, 3, 4},
	}
	for k, w := range want {
		if got[k] == nil || *got[k] != w {
			t.Errorf("%s: got %+v, want %+v", k, got[k], w)
		}
	}
	// The same export maps to the same ids.
	f2, _ := os.Open("testdata/openai-usage.json")
	defer f2.Close()
	again, err := OpenAIUsage(f2, OpenAIOptions{Tenant: "acme", App: "api"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		if evs[i].EventID != again[i].EventID || !evs[i].Time.Equal(again[i].Time) {
			t.Fatalf("event %d differs between two reads", i)
		}
	}
}

func TestOpenAIUsageNamesEveryBadResult(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{"no model grouping", `{"object":"page","data":[{"start_time":1,"end_time":2,"results":[{"input_tokens":1,"num_model_requests":1,"model":null}]}]}`, "page 1, bucket 1, result 1: model is null"},
		{"cached above input", `{"object":"page","data":[{"start_time":1,"end_time":2,"results":[{"input_tokens":1,"input_cached_tokens":2,"num_model_requests":1,"model":"m"}]}]}`, "input_cached_tokens 2 exceed"},
		{"not a usage page", `{"object":"list","data":[]}`, `object is "list"`},
		{"an unknown field", `{"object":"page","data":[],"prompt":"x"}`, "unknown field"},
		{"broken JSON on the second page", `{"object":"page","data":[]} {"object":`, "page 2"},
		{"empty input", ``, "empty input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := OpenAIUsage(strings.NewReader(tt.input), OpenAIOptions{Tenant: "acme"})
			if err == nil || !strings.Contains(err.Error(), tt.want) || evs != nil {
				t.Fatalf("got %d events, error %v; want an error with %q", len(evs), err, tt.want)
			}
		})
	}
	if _, err := OpenAIUsage(strings.NewReader(`{"object":"page","data":[]}`), OpenAIOptions{}); err == nil {
		t.Fatal("no tenant accepted")
	}
}
