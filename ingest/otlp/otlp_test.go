package otlp

import (
	"strings"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/jevonsdev/jevons/schemas"
)

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func num(k string, v int64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
}

var (
	traceID = []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	spanID  = []byte{0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 1, 2}
	end     = time.Date(2026, 3, 1, 12, 0, 1, 500_000_000, time.UTC)
)

func request(res []*commonpb.KeyValue, spans ...*tracepb.Span) []*tracepb.ResourceSpans {
	return []*tracepb.ResourceSpans{{
		Resource:   &resourcepb.Resource{Attributes: res},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}},
	}}
}

func span(attrs ...*commonpb.KeyValue) *tracepb.Span {
	return &tracepb.Span{
		TraceId: traceID, SpanId: spanID, Name: "chat gpt-4o",
		StartTimeUnixNano: uint64(end.Add(-1250 * time.Millisecond).UnixNano()),
		EndTimeUnixNano:   uint64(end.UnixNano()),
		Attributes:        attrs,
	}
}

func TestMap(t *testing.T) {
	res := []*commonpb.KeyValue{str("service.name", "reviewer")}
	tests := []struct {
		name  string
		spans []*tracepb.ResourceSpans
		want  []schemas.Event
		errs  []string
	}{
		{
			name: "a current conventions span becomes one event keyed by trace and span",
			spans: request(res, span(str("gen_ai.provider.name", "openai"), str("gen_ai.request.model", "gpt-4o"),
				str("gen_ai.response.model", "gpt-4o-2024-08-06"), str("gen_ai.operation.name", "chat"),
				num("gen_ai.usage.input_tokens", 1000), num("gen_ai.usage.output_tokens", 300),
				num("gen_ai.usage.cache_read.input_tokens", 400), num("gen_ai.usage.reasoning.output_tokens", 100),
				str("gen_ai.conversation.id", "conv-1"), str("gen_ai.input.messages", "secret prompt"))),
			want: []schemas.Event{{EventID: "0102030405060708090a0b0c0d0e0f10" + "0a0b0c0d0e0f0102", Time: end, Tenant: "acme",
				TaskID: "conv-1", App: "reviewer", Provider: "openai", Model: "gpt-4o-2024-08-06", Operation: "chat", Status: "ok", LatencyMs: 1250,
				Usage: schemas.Usage{InputTokens: 1000, OutputTokens: 300, CacheReadTokens: 400, ReasoningTokens: 100}}},
		},
		{
			name: "older names: gen_ai.system, prompt and completion tokens, cache_creation; the trace is the task",
			spans: request(res, span(str("gen_ai.system", "anthropic"), str("gen_ai.request.model", "claude-sonnet-4"),
				num("gen_ai.usage.prompt_tokens", 500), num("gen_ai.usage.completion_tokens", 20),
				num("gen_ai.usage.cache_creation.input_tokens", 100), str("jevons.task_type", "triage"))),
			want: []schemas.Event{{EventID: "0102030405060708090a0b0c0d0e0f100a0b0c0d0e0f0102", Time: end, Tenant: "acme",
				TaskID: "0102030405060708090a0b0c0d0e0f10", TaskType: "triage", App: "reviewer", Provider: "anthropic", Model: "claude-sonnet-4",
				Operation: "chat", Status: "ok", LatencyMs: 1250,
				Usage: schemas.Usage{InputTokens: 500, OutputTokens: 20, CacheWriteTokens: 100}}},
		},
		{
			name: "cache tokens beyond input are added to it (raw Anthropic input) and an error status is kept",
			spans: request(nil, func() *tracepb.Span {
				s := span(str("gen_ai.provider.name", "anthropic"), str("gen_ai.response.model", "claude-sonnet-4"),
					num("gen_ai.usage.input_tokens", 10), num("gen_ai.usage.output_tokens", 5),
					num("gen_ai.usage.cache_read.input_tokens", 300), num("gen_ai.usage.cache_write.input_tokens", 50),
					str("session.id", "s-9"))
				s.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR}
				return s
			}()),
			want: []schemas.Event{{EventID: "0102030405060708090a0b0c0d0e0f100a0b0c0d0e0f0102", Time: end, Tenant: "acme",
				TaskID: "s-9", Provider: "anthropic", Model: "claude-sonnet-4", Operation: "chat", Status: "error", LatencyMs: 1250,
				Usage: schemas.Usage{InputTokens: 360, OutputTokens: 5, CacheReadTokens: 300, CacheWriteTokens: 50}}},
		},
		{
			name:  "a span without usage attributes is not usage and is skipped",
			spans: request(res, span(str("gen_ai.provider.name", "openai"), str("http.method", "POST"))),
		},
		{
			name:  "a usage span without provider or model is rejected with both reasons",
			spans: request(nil, span(num("gen_ai.usage.input_tokens", 3))),
			errs:  []string{"provider: required; model: required"},
		},
		{
			name: "a token count that is not a whole number is rejected",
			spans: request(nil, span(str("gen_ai.provider.name", "openai"), str("gen_ai.request.model", "gpt-4o"),
				str("gen_ai.usage.input_tokens", "many"))),
			errs: []string{"attributes.gen_ai.usage.input_tokens: want a whole number of tokens"},
		},
	}
	m := New(DefaultConfig())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := m.Map("acme", tt.spans)
			if len(got) != len(tt.want)+len(tt.errs) {
				t.Fatalf("got %d results, want %d", len(got), len(tt.want)+len(tt.errs))
			}
			for i, r := range got {
				if i < len(tt.want) {
					if r.Err != nil {
						t.Fatalf("result %d: %v", i, r.Err)
					}
					if !equal(r.Event, tt.want[i]) {
						t.Errorf("result %d:\n got %+v\nwant %+v", i, r.Event, tt.want[i])
					}
					continue
				}
				if r.Err == nil || !strings.Contains(r.Err.Error(), tt.errs[i-len(tt.want)]) {
					t.Errorf("result %d: error %v, want it to contain %q", i, r.Err, tt.errs[i-len(tt.want)])
				}
			}
		})
	}
}

func equal(a, b schemas.Event) bool {
	return a.EventID == b.EventID && a.Time.Equal(b.Time) && a.Tenant == b.Tenant && a.TaskID == b.TaskID &&
		a.TaskType == b.TaskType && a.App == b.App && a.Provider == b.Provider && a.Model == b.Model &&
		a.Operation == b.Operation && a.Status == b.Status && a.LatencyMs == b.LatencyMs && a.Usage == b.Usage &&
		len(a.Attributes) == 0 && len(b.Attributes) == 0
}
