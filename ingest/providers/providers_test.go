package providers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jevonsdev/jevons/schemas"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestMapFixtures(t *testing.T) {
	tests := []struct {
		name, provider, file string
		meta                 Meta
		want                 schemas.Event
	}{
		{
			name: "OpenAI chat: cached tokens are part of prompt_tokens", provider: "openai", file: "openai_chat.json",
			want: schemas.Event{EventID: "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", Time: time.Unix(1741570283, 0).UTC(),
				Provider: "openai", Model: "gpt-4o-2024-08-06",
				Usage: schemas.Usage{InputTokens: 1117, CacheReadTokens: 1024, OutputTokens: 46}},
		},
		{
			name: "OpenAI Responses: reasoning tokens are part of output_tokens", provider: "openai", file: "openai_responses.json",
			want: schemas.Event{EventID: "resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41", Time: time.Unix(1741476777, 0).UTC(),
				Provider: "openai", Model: "o3-mini-2025-01-31",
				Usage: schemas.Usage{InputTokens: 75, OutputTokens: 1186, ReasoningTokens: 1024}},
		},
		{
			name: "Anthropic: cache writes and reads are added to input; 1-hour writes kept apart", provider: "anthropic", file: "anthropic.json",
			meta: Meta{TaskID: "run-1", App: "bot"},
			want: schemas.Event{EventID: "msg_013Zva2CMHLNnXjNJJKqJ2EF", Time: now, TaskID: "run-1", App: "bot",
				Provider: "anthropic", Model: "claude-sonnet-4-20250514",
				Usage: schemas.Usage{InputTokens: 2095 + 3000 + 12000, CacheWriteTokens: 3000, CacheWrite1hTokens: 1000, CacheReadTokens: 12000, OutputTokens: 503}},
		},
		{
			name: "Gemini: tool-use prompt tokens are input, thoughts are output", provider: "gemini", file: "gemini.json",
			want: schemas.Event{EventID: "mAitaLmkHPPlz7IPvtfUqQ4", Time: now, Provider: "gcp.gemini", Model: "gemini-2.5-flash",
				Usage: schemas.Usage{InputTokens: 4210 + 112, CacheReadTokens: 4000, OutputTokens: 320 + 1010, ReasoningTokens: 1010}},
		},
		{
			name: "Bedrock Converse: the model and id come from the caller, cache tokens are added to input", provider: "bedrock", file: "bedrock.json",
			meta: Meta{EventID: "req-7", Model: "anthropic.claude-3-5-sonnet-20240620-v1:0", Time: now.Add(-time.Minute)},
			want: schemas.Event{EventID: "req-7", Time: now.Add(-time.Minute), Provider: "aws.bedrock", Model: "anthropic.claude-3-5-sonnet-20240620-v1:0",
				LatencyMs: 1742, Usage: schemas.Usage{InputTokens: 512 + 2000 + 2000, OutputTokens: 96, CacheReadTokens: 2000, CacheWriteTokens: 2000}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			tt.meta.Tenant = "acme"
			got, err := Map(tt.provider, body, tt.meta, now)
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Tenant = "acme"
			tt.want.ApplyDefaults()
			if !got.Time.Equal(tt.want.Time) {
				t.Errorf("time %v, want %v", got.Time, tt.want.Time)
			}
			got.Time = tt.want.Time
			if got.EventID != tt.want.EventID || got.TaskID != tt.want.TaskID || got.App != tt.want.App || got.Provider != tt.want.Provider ||
				got.Model != tt.want.Model || got.LatencyMs != tt.want.LatencyMs || got.Usage != tt.want.Usage || got.Status != "ok" || got.Operation != "chat" {
				t.Errorf("\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestMapUsageObjectAlone(t *testing.T) {
	got, err := Map("anthropic", []byte(`{"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 2}`),
		Meta{Tenant: "acme", EventID: "e1", Model: "claude-3-5-haiku-latest"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := (schemas.Usage{InputTokens: 15, CacheReadTokens: 5, OutputTokens: 2}); got.Usage != want || got.Model != "claude-3-5-haiku-latest" {
		t.Fatalf("got %+v %q", got.Usage, got.Model)
	}
}

func TestMapRejections(t *testing.T) {
	tests := []struct {
		name, provider, body, want string
		eventID                    string
	}{
		{"an unknown provider", "mistral", `{}`, "provider: unknown provider", ""},
		{"a body that is not an object", "openai", `[1]`, "body: want a JSON object", ""},
		{"an OpenAI body with no usage counts", "openai", `{"id":"x","model":"gpt-4o","usage":{"total_tokens":3}}`, "neither prompt_tokens", ""},
		{"a token count of the wrong type", "openai", `{"id":"x","model":"gpt-4o","usage":{"prompt_tokens":"7"}}`, "usage.prompt_tokens: want int64", ""},
		{"Bedrock without a request id", "bedrock", `{"usage":{"inputTokens":1,"outputTokens":1}}`, "event_id: required", ""},
		{"Bedrock without a model", "bedrock", `{"usage":{"inputTokens":1,"outputTokens":1}}`, "model: required", "req-1"},
		{"reasoning beyond output", "openai", `{"id":"x","model":"gpt-4o","usage":{"prompt_tokens":1,"completion_tokens":1,"completion_tokens_details":{"reasoning_tokens":5}}}`, "usage.reasoning_tokens", ""},
		{"a negative count", "anthropic", `{"id":"x","model":"m","usage":{"input_tokens":-1}}`, "token counts must be 0..", ""},
		{"Gemini without promptTokenCount", "gemini", `{"responseId":"r","modelVersion":"g","usageMetadata":{"candidatesTokenCount":1}}`, "usageMetadata.promptTokenCount: required", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Map(tt.provider, []byte(tt.body), Meta{Tenant: "acme", EventID: tt.eventID}, now)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func FuzzMap(f *testing.F) {
	for _, name := range []string{"openai_chat", "openai_responses", "anthropic", "gemini", "bedrock"} {
		b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(strings.Split(name, "_")[0], b)
	}
	f.Fuzz(func(t *testing.T, provider string, body []byte) {
		ev, err := Map(provider, body, Meta{Tenant: "acme", EventID: "e", Model: "m"}, now)
		if err != nil {
			if err.Error() == "" || strings.HasSuffix(err.Error(), ": ") {
				t.Fatalf("rejection without a reason: %q", err)
			}
			return
		}
		if verr := ev.Validate(); verr != nil {
			t.Fatalf("accepted an invalid event: %v", verr)
		}
	})
}
