package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/jevonsdev/jevons/ingest/gateway"
	"github.com/jevonsdev/jevons/internal/itest"
	"github.com/jevonsdev/jevons/schemas"
)

// genAICall is one model call as an instrumentation library records it.
type genAICall struct {
	attrs []attribute.KeyValue
	event schemas.Event // what Jevons must count
	err   bool
}

// record emits an agent span with one child chat span per call, through a
// real OpenTelemetry SDK tracer provider and exporter.
func record(t *testing.T, tp *sdktrace.TracerProvider, calls []genAICall, end time.Time) {
	t.Helper()
	tr := tp.Tracer("github.com/example/genai-instrumentation")
	ctx, agent := tr.Start(context.Background(), "invoke_agent reviewer", trace.WithTimestamp(end.Add(-time.Minute)),
		trace.WithAttributes(attribute.String("gen_ai.operation.name", "invoke_agent")))
	for i, c := range calls {
		_, sp := tr.Start(ctx, "chat", trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(end.Add(-time.Duration(900+i)*time.Millisecond)),
			trace.WithAttributes(c.attrs...))
		// Content attributes, as libraries record them when asked to: never read.
		sp.SetAttributes(attribute.String("gen_ai.input.messages", `[{"role":"user","parts":[{"type":"text","content":"secret"}]}]`),
			attribute.String("gen_ai.prompt.0.content", "secret"))
		if c.err {
			sp.SetStatus(codes.Error, "rate limited by provider")
		}
		sp.End(trace.WithTimestamp(end.Add(time.Duration(i) * time.Millisecond)))
	}
	agent.End(trace.WithTimestamp(end.Add(time.Second)))
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatalf("exporter: %v", err)
	}
}

func usageAttrs(provider, model string, in, out, cacheRead, reasoning int64, conv string) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.provider.name", provider),
		attribute.String("gen_ai.request.model", model), attribute.String("gen_ai.response.model", model),
		attribute.Int64("gen_ai.usage.input_tokens", in), attribute.Int64("gen_ai.usage.output_tokens", out),
		attribute.Int64("gen_ai.usage.cache_read.input_tokens", cacheRead), attribute.Int64("gen_ai.usage.reasoning.output_tokens", reasoning),
		attribute.String("gen_ai.conversation.id", conv),
	}
}

func ev(tenant, provider, model string, u schemas.Usage, at time.Time) schemas.Event {
	return schemas.Event{Tenant: tenant, Provider: provider, Model: model, Usage: u, Time: at}
}

// OTel SDK exporters (HTTP and gRPC) and provider bodies -> gateway ->
// Kafka -> aggregator -> usage, exactly; an exporter's retry after a lost
// answer is counted once; another tenant's event is refused.
func TestEndToEnd(t *testing.T) {
	var failOnce atomic.Bool
	var failed atomic.Int32
	s := newStackWrapped(t, func(p gateway.Producer) gateway.Producer {
		return gateway.ProducerFunc(func(ctx context.Context, msgs []kafka.Message) error {
			err := p.Produce(ctx, msgs)
			for _, m := range msgs {
				if err == nil && strings.Contains(string(m.Value), `"model":"gpt-4o-mini"`) && failOnce.CompareAndSwap(false, true) {
					failed.Add(1)
					return errors.New("acknowledged, but the answer is lost") // the exporter must retry the same spans
				}
			}
			return err
		})
	})
	want := expected{}
	end := time.Now().Add(-30 * time.Second).Truncate(time.Millisecond)
	auth := map[string]string{"Authorization": "Bearer " + s.keys["acme"]}
	res := resource.NewSchemaless(attribute.String("service.name", "reviewer"))

	// OTLP/HTTP protobuf with retries, as an app configures its exporter.
	httpExp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpoint(s.gw.HTTPAddr()), otlptracehttp.WithInsecure(),
		otlptracehttp.WithHeaders(auth), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: 100 * time.Millisecond,
			MaxInterval: 2 * time.Second, MaxElapsedTime: 30 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	tpHTTP := sdktrace.NewTracerProvider(sdktrace.WithBatcher(httpExp), sdktrace.WithResource(res))
	calls := []genAICall{
		{attrs: usageAttrs("openai", "gpt-4o", 1200, 300, 1000, 0, "conv-1"), event: ev("acme", "openai", "gpt-4o", schemas.Usage{InputTokens: 1200, OutputTokens: 300, CacheReadTokens: 1000}, end)},
		{attrs: usageAttrs("openai", "o3-mini", 75, 1186, 0, 1024, "conv-1"), event: ev("acme", "openai", "o3-mini", schemas.Usage{InputTokens: 75, OutputTokens: 1186, ReasoningTokens: 1024}, end)},
		{attrs: usageAttrs("openai", "gpt-4o-mini", 500, 50, 0, 0, "conv-2"), event: ev("acme", "openai", "gpt-4o-mini", schemas.Usage{InputTokens: 500, OutputTokens: 50}, end), err: true},
	}
	record(t, tpHTTP, calls, end)
	_ = tpHTTP.Shutdown(context.Background())
	if failed.Load() != 1 {
		t.Fatalf("the lost answer was injected %d times, want 1", failed.Load())
	}

	// OTLP/gRPC, older attribute names (gen_ai.system, prompt/completion tokens, cache_creation).
	grpcExp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(s.gw.GRPCAddr()), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithHeaders(auth))
	if err != nil {
		t.Fatal(err)
	}
	tpGRPC := sdktrace.NewTracerProvider(sdktrace.WithBatcher(grpcExp), sdktrace.WithResource(res))
	old := []genAICall{{attrs: []attribute.KeyValue{attribute.String("gen_ai.system", "anthropic"), attribute.String("gen_ai.request.model", "claude-3-5-haiku-20241022"),
		attribute.Int64("gen_ai.usage.prompt_tokens", 4000), attribute.Int64("gen_ai.usage.completion_tokens", 200),
		attribute.Int64("gen_ai.usage.cache_creation.input_tokens", 3000), attribute.String("session.id", "s-1")},
		event: ev("acme", "anthropic", "claude-3-5-haiku-20241022", schemas.Usage{InputTokens: 4000, OutputTokens: 200, CacheWriteTokens: 3000}, end)}}
	record(t, tpGRPC, old, end)
	_ = tpGRPC.Shutdown(context.Background())
	for _, c := range append(calls, old...) {
		want.add(t, c.event)
	}

	// Provider bodies, priced as `jevons prices cost` prices their tokens.
	at := end.Format(time.RFC3339Nano)
	for _, p := range []struct{ provider, file string }{
		{"openai", "openai_chat.json"}, {"openai", "openai_responses.json"}, {"anthropic", "anthropic.json"}, {"gemini", "gemini.json"}, {"bedrock", "bedrock.json"},
	} {
		resp, body := s.post("acme", "/v1/usage/"+p.provider+"?task_id=run-7&app=bot", "application/json", readFixture(t, p.file),
			"X-Jevons-Time", at, "X-Jevons-Event-Id", "evt-"+p.file, "X-Jevons-Model", "anthropic.claude-3-5-sonnet-20240620-v1:0")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", p.file, resp.StatusCode, body)
		}
		var ur gateway.UsageResponse
		if err := json.Unmarshal(body, &ur); err != nil {
			t.Fatal(err)
		}
		want.add(t, decodeEvent(t, ur.Event))
	}

	// Schema v1 events: the key's tenant fills a missing tenant; another tenant is refused.
	line := fmt.Sprintf(`{"event_id":"g-1","time":%q,"provider":"openai","model":"gpt-4o","usage":{"input_tokens":10,"output_tokens":1}}`, at)
	if resp, body := s.post("globex", "/v1/events", "application/x-ndjson", []byte(line)); resp.StatusCode != 200 {
		t.Fatalf("globex: %d %s", resp.StatusCode, body)
	}
	want.add(t, ev("globex", "openai", "gpt-4o", schemas.Usage{InputTokens: 10, OutputTokens: 1}, end))
	foreign := strings.Replace(line, `"event_id":"g-1"`, `"event_id":"g-2","tenant":"acme"`, 1)
	if resp, body := s.post("globex", "/v1/events", "application/x-ndjson", []byte(foreign)); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("another tenant's event: %d %s, want 403", resp.StatusCode, body)
	}

	s.waitUsage(want, 90*time.Second)
	retried := 0
	for _, n := range s.readTopic() {
		if n > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Fatal("no event is on the topic twice: the exporter's retry did not happen")
	}
}

func newStackWrapped(t *testing.T, wrap func(gateway.Producer) gateway.Producer) *stack {
	s := &stack{t: t}
	s.wrap = wrap
	return s.init(true, nil)
}

// Over the tenant's rate the gateway answers 429 with Retry-After and
// produces nothing of that request.
func TestRateLimit(t *testing.T) {
	s := newStack(t, false, func(c *gateway.Config) { c.RatePerSec, c.RateBurst, c.MaxEventsPerRequest = 0.01, 3, 3 })
	at := time.Now().UTC().Format(time.RFC3339)
	batch := func(ids ...string) []byte {
		var b strings.Builder
		for _, id := range ids {
			fmt.Fprintf(&b, `{"event_id":%q,"time":%q,"provider":"openai","model":"gpt-4o","usage":{"input_tokens":1}}`+"\n", id, at)
		}
		return []byte(b.String())
	}
	if resp, body := s.post("acme", "/v1/events", "application/x-ndjson", batch("a", "b", "c")); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	resp, body := s.post("acme", "/v1/events", "application/x-ndjson", batch("d"))
	// One token comes back every 100s: the wait told is up to 100s, whole seconds.
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != http.StatusTooManyRequests || err != nil || ra < 90 || ra > 100 ||
		!strings.Contains(string(body), "over its rate") {
		t.Fatalf("%d Retry-After=%q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if resp, _ := s.post("globex", "/v1/events", "application/x-ndjson", batch("e")); resp.StatusCode != 200 {
		t.Fatalf("another tenant's bucket is its own: %d", resp.StatusCode)
	}
	got := s.readTopic()
	if len(got) != 4 || got["d"] != 0 {
		t.Fatalf("topic holds %v", got)
	}
}

// Kafka stopped: the gateway answers 503 with Retry-After; once the broker
// is back the client's retry is accepted and no acknowledged event is lost.
func TestKafkaOutage(t *testing.T) {
	itest.Lock(t, true)
	s := newStack(t, false, func(c *gateway.Config) { c.ProduceTimeout = 3 * time.Second })
	at := time.Now().UTC().Format(time.RFC3339)
	batch := func(prefix string, n int) []byte {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, `{"event_id":"%s-%d","time":%q,"task_id":"t-%d","provider":"openai","model":"gpt-4o","usage":{"input_tokens":1}}`+"\n", prefix, i, at, i)
		}
		return []byte(b.String())
	}
	if resp, body := s.post("acme", "/v1/events", "application/x-ndjson", batch("before", 100)); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	services := servicesScript()
	if out, err := exec.Command(services, "down", "kafka").CombinedOutput(); err != nil {
		t.Fatalf("stop kafka: %v\n%s", err, out)
	}
	restarted := false
	defer func() {
		if !restarted {
			_ = exec.Command(services, "up", "kafka").Run()
		}
	}()
	resp, body := s.post("acme", "/v1/events", "application/x-ndjson", batch("during", 100))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || strings.Contains(string(body), `"accepted"`) {
		t.Fatalf("with Kafka down: %d Retry-After=%q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if out, err := exec.Command(services, "up", "kafka").CombinedOutput(); err != nil {
		t.Fatalf("start kafka: %v\n%s", err, out)
	}
	restarted = true
	// The client retries the same batch until it is accepted, as it was told to.
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, body = s.post("acme", "/v1/events", "application/x-ndjson", batch("during", 100))
		if resp.StatusCode == 200 {
			break
		}
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("after Kafka returned: %d %s", resp.StatusCode, body)
		}
		time.Sleep(time.Second)
	}
	got := s.readTopic()
	for _, prefix := range []string{"before", "during"} {
		for i := range 100 {
			if got[fmt.Sprintf("%s-%d", prefix, i)] == 0 {
				t.Fatalf("acknowledged event %s-%d is not on the topic", prefix, i)
			}
		}
	}
	if len(got) != 200 {
		t.Fatalf("%d distinct events on the topic, want 200", len(got))
	}
}

func servicesScript() string {
	return "../../deploy/local/services"
}
