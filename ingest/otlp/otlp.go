package otlp

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/jevonsdev/jevons/schemas"
)

// Config chooses which attributes name a span's task, task type and app.
// Each list is tried in order, on the span and then on its resource.
type Config struct {
	TaskIDAttrs   []string
	TaskTypeAttrs []string
	AppAttrs      []string
}

// DefaultConfig returns the defaults: an agent run's spans form one task
// through gen_ai.conversation.id or session.id, else their trace.
func DefaultConfig() Config {
	return Config{
		TaskIDAttrs:   []string{"gen_ai.conversation.id", "session.id"},
		TaskTypeAttrs: []string{"jevons.task_type", "gen_ai.agent.name"},
		AppAttrs:      []string{"jevons.app", "service.name"},
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	for name, l := range map[string][]string{"task id": c.TaskIDAttrs, "task type": c.TaskTypeAttrs, "app": c.AppAttrs} {
		for _, a := range l {
			if a == "" {
				errs = append(errs, fmt.Errorf("otlp %s attributes: empty name", name))
			}
		}
	}
	return errors.Join(errs...)
}

// Attribute keys read from spans.
const (
	attrProvider      = "gen_ai.provider.name"
	attrSystem        = "gen_ai.system"
	attrRespModel     = "gen_ai.response.model"
	attrReqModel      = "gen_ai.request.model"
	attrOperation     = "gen_ai.operation.name"
	attrInput         = "gen_ai.usage.input_tokens"
	attrPrompt        = "gen_ai.usage.prompt_tokens"
	attrOutput        = "gen_ai.usage.output_tokens"
	attrCompletion    = "gen_ai.usage.completion_tokens"
	attrCacheRead     = "gen_ai.usage.cache_read.input_tokens"
	attrCacheWrite    = "gen_ai.usage.cache_write.input_tokens"
	attrCacheCreation = "gen_ai.usage.cache_creation.input_tokens"
	attrReasoning     = "gen_ai.usage.reasoning.output_tokens"
)

var usageKeys = [...]string{attrInput, attrPrompt, attrOutput, attrCompletion, attrCacheRead, attrCacheWrite, attrCacheCreation, attrReasoning}

// Result is the fate of one span that carries usage: an event, or the
// reason it cannot become one.
type Result struct {
	TraceID, SpanID string // hex
	Event           schemas.Event
	Err             error // a *schemas.ValidationError or a mapping error
}

// Mapper maps spans to events.
type Mapper struct{ cfg Config }

// New returns a Mapper; cfg must be valid.
func New(cfg Config) *Mapper { return &Mapper{cfg: cfg} }

// Map returns one Result per span with at least one gen_ai.usage.*
// attribute, in order; other spans are not usage and are skipped. Every
// event gets tenant; it is validated with schema v1's rules.
func (m *Mapper) Map(tenant string, spans []*tracepb.ResourceSpans) []Result {
	var out []Result
	for _, rs := range spans {
		var res []*commonpb.KeyValue
		if rs.GetResource() != nil {
			res = rs.GetResource().GetAttributes()
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				if !hasUsage(sp.GetAttributes()) {
					continue
				}
				out = append(out, m.span(tenant, sp, res))
			}
		}
	}
	return out
}

func hasUsage(attrs []*commonpb.KeyValue) bool {
	for _, kv := range attrs {
		for _, k := range usageKeys {
			if kv.GetKey() == k {
				return true
			}
		}
	}
	return false
}

func (m *Mapper) span(tenant string, sp *tracepb.Span, res []*commonpb.KeyValue) Result {
	r := Result{TraceID: hex.EncodeToString(sp.GetTraceId()), SpanID: hex.EncodeToString(sp.GetSpanId())}
	a := attrs{span: sp.GetAttributes(), res: res}
	var v schemas.ValidationError
	if len(sp.GetTraceId()) != 16 || len(sp.GetSpanId()) != 8 {
		v.Violations = append(v.Violations, schemas.Violation{Field: "span", Msg: fmt.Sprintf("trace id must be 16 bytes and span id 8 (got %d, %d)", len(sp.GetTraceId()), len(sp.GetSpanId()))})
	}
	e := &r.Event
	e.EventID = r.TraceID + r.SpanID
	e.Tenant = tenant
	e.Provider = a.first(&v, attrProvider, attrSystem)
	e.Model = a.first(&v, attrRespModel, attrReqModel)
	e.Operation = a.first(&v, attrOperation)
	e.TaskID = a.first(&v, m.cfg.TaskIDAttrs...)
	if e.TaskID == "" {
		e.TaskID = r.TraceID
	}
	e.TaskType = a.first(&v, m.cfg.TaskTypeAttrs...)
	e.App = a.first(&v, m.cfg.AppAttrs...)
	if end := sp.GetEndTimeUnixNano(); end > 0 && end <= math.MaxInt64 {
		e.Time = time.Unix(0, int64(end)).UTC()
		if start := sp.GetStartTimeUnixNano(); start > 0 && start <= end {
			e.LatencyMs = int64((end - start) / uint64(time.Millisecond))
		}
	} else {
		v.Violations = append(v.Violations, schemas.Violation{Field: "span.end_time_unix_nano", Msg: "required"})
	}
	if sp.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR {
		e.Status = schemas.StatusError
	}
	u := &e.Usage
	u.InputTokens = a.tokens(&v, attrInput, attrPrompt)
	u.OutputTokens = a.tokens(&v, attrOutput, attrCompletion)
	u.CacheReadTokens = a.tokens(&v, attrCacheRead)
	u.CacheWriteTokens = a.tokens(&v, attrCacheWrite, attrCacheCreation)
	u.ReasoningTokens = a.tokens(&v, attrReasoning)
	if u.CacheReadTokens+u.CacheWriteTokens > u.InputTokens && u.CacheReadTokens >= 0 && u.CacheWriteTokens >= 0 {
		u.InputTokens += u.CacheReadTokens + u.CacheWriteTokens
	}
	if err := e.Validate(); err != nil {
		var ve *schemas.ValidationError
		if errors.As(err, &ve) {
			v.Violations = append(v.Violations, ve.Violations...)
		}
	}
	if len(v.Violations) > 0 {
		r.Err = &v
	}
	return r
}

// attrs looks keys up on the span, then on its resource.
type attrs struct{ span, res []*commonpb.KeyValue }

func (a attrs) lookup(key string) (*commonpb.AnyValue, bool) {
	for _, l := range [2][]*commonpb.KeyValue{a.span, a.res} {
		for _, kv := range l {
			if kv.GetKey() == key {
				return kv.GetValue(), true
			}
		}
	}
	return nil, false
}

// first returns the string value of the first key present.
func (a attrs) first(v *schemas.ValidationError, keys ...string) string {
	for _, k := range keys {
		val, ok := a.lookup(k)
		if !ok {
			continue
		}
		switch x := val.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			return x.StringValue
		case *commonpb.AnyValue_IntValue:
			return strconv.FormatInt(x.IntValue, 10)
		default:
			v.Violations = append(v.Violations, schemas.Violation{Field: "attributes." + k, Msg: "want a string value"})
			return ""
		}
	}
	return ""
}

// tokens returns the integer value of the first key present, 0 if none.
// Exporters send integers; a double or a decimal string is taken only when
// it is a whole number.
func (a attrs) tokens(v *schemas.ValidationError, keys ...string) int64 {
	for _, k := range keys {
		val, ok := a.lookup(k)
		if !ok {
			continue
		}
		switch x := val.GetValue().(type) {
		case *commonpb.AnyValue_IntValue:
			return x.IntValue
		case *commonpb.AnyValue_DoubleValue:
			if x.DoubleValue == math.Trunc(x.DoubleValue) && math.Abs(x.DoubleValue) <= schemas.MaxTokens {
				return int64(x.DoubleValue)
			}
		case *commonpb.AnyValue_StringValue:
			if n, err := strconv.ParseInt(x.StringValue, 10, 64); err == nil {
				return n
			}
		}
		v.Violations = append(v.Violations, schemas.Violation{Field: "attributes." + k, Msg: "want a whole number of tokens"})
		return 0
	}
	return 0
}
