package schemas

import (
	"fmt"
	"strings"
	"time"
)

// Version is the event schema version this package reads and writes.
const Version = 1

// Limits of schema v1.
const (
	MaxEventID      = 128
	MaxTenant       = 128
	MaxTaskID       = 256
	MaxTaskType     = 128
	MaxApp          = 128
	MaxName         = 256 // provider, model, operation
	MaxTokens       = 1_000_000_000
	MaxLatencyMs    = 86_400_000 // a day: a latency sum of a state stays far from overflow
	MaxAttributes   = 16
	MaxAttrKey      = 64
	MaxAttrValue    = 256
	DefaultOp       = "chat"
	StatusOK        = "ok"
	StatusError     = "error"
	MaxMessageBytes = 64 << 10
)

// Event is one request to a model: schema v1.
type Event struct {
	EventID    string
	Time       time.Time
	Tenant     string
	TaskID     string // defaults to EventID
	TaskType   string
	TaskDone   bool
	App        string
	Provider   string
	Model      string
	Operation  string // defaults to "chat"
	Status     string // "ok" (default) or "error"
	LatencyMs  int64
	Usage      Usage
	Attributes map[string]string
}

// Usage is a request's token counts. Input includes cache reads and writes;
// CacheWrite includes CacheWrite1h; Output includes Reasoning.
type Usage struct {
	InputTokens        int64
	OutputTokens       int64
	CacheReadTokens    int64
	CacheWriteTokens   int64
	CacheWrite1hTokens int64
	ReasoningTokens    int64
}

// Violation is one broken rule, located by its field path.
type Violation struct {
	Field string
	Msg   string
}

// ValidationError lists every violation of one event.
type ValidationError struct {
	Violations []Violation
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid event: ")
	for i, v := range e.Violations {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(v.Field)
		b.WriteString(": ")
		b.WriteString(v.Msg)
	}
	return b.String()
}

func (e *ValidationError) add(field, format string, args ...any) {
	e.Violations = append(e.Violations, Violation{field, fmt.Sprintf(format, args...)})
}

// Key is the Kafka message key for the event: tenant/task_id, so that one
// task's events, and every retry of an event, land in one partition.
func (e *Event) Key() string { return e.Tenant + "/" + e.TaskID }

// ApplyDefaults fills the optional fields' defaults.
func (e *Event) ApplyDefaults() {
	if e.TaskID == "" {
		e.TaskID = e.EventID
	}
	if e.Operation == "" {
		e.Operation = DefaultOp
	}
	if e.Status == "" {
		e.Status = StatusOK
	}
}

// Validate applies defaults and checks every rule, returning a
// *ValidationError with all violations, or nil.
func (e *Event) Validate() error {
	e.ApplyDefaults()
	var v ValidationError
	e.check(&v)
	if len(v.Violations) > 0 {
		return &v
	}
	return nil
}

func (e *Event) check(v *ValidationError) {
	lengthRule(v, "event_id", e.EventID, 1, MaxEventID)
	if e.Time.IsZero() {
		v.add("time", "required (RFC 3339)")
	}
	if lengthRule(v, "tenant", e.Tenant, 1, MaxTenant) && !tenantChars(e.Tenant) {
		v.add("tenant", "only A-Z a-z 0-9 . _ : - are allowed")
	}
	lengthRule(v, "task_id", e.TaskID, 0, MaxTaskID)
	lengthRule(v, "task_type", e.TaskType, 0, MaxTaskType)
	lengthRule(v, "app", e.App, 0, MaxApp)
	lengthRule(v, "provider", e.Provider, 1, MaxName)
	lengthRule(v, "model", e.Model, 1, MaxName)
	lengthRule(v, "operation", e.Operation, 0, MaxName)
	if e.Status != StatusOK && e.Status != StatusError {
		v.add("status", "want %q or %q, got %q", StatusOK, StatusError, e.Status)
	}
	if e.LatencyMs < 0 || e.LatencyMs > MaxLatencyMs {
		v.add("latency_ms", "must be 0..%d, got %d", MaxLatencyMs, e.LatencyMs)
	}
	e.Usage.check(v)
	if len(e.Attributes) > MaxAttributes {
		v.add("attributes", "at most %d keys, got %d", MaxAttributes, len(e.Attributes))
	}
	if len(e.Attributes) > 0 { // most events have none: no map iteration for them
		for k, val := range e.Attributes {
			if len(k) == 0 || len(k) > MaxAttrKey {
				v.add("attributes."+k, "key must be 1-%d chars", MaxAttrKey)
			}
			if len(val) > MaxAttrValue {
				v.add("attributes."+k, "value longer than %d chars", MaxAttrValue)
			}
		}
	}
}

func (u *Usage) check(v *ValidationError) {
	if uint64(u.InputTokens|u.OutputTokens|u.CacheReadTokens|u.CacheWriteTokens|u.CacheWrite1hTokens|u.ReasoningTokens) <= MaxTokens &&
		u.CacheReadTokens+u.CacheWriteTokens <= u.InputTokens && u.CacheWrite1hTokens <= u.CacheWriteTokens && u.ReasoningTokens <= u.OutputTokens {
		return // the common case: each count is at most their OR (none negative), and they are consistent
	}
	fields := [...]struct {
		name string
		n    int64
	}{
		{"usage.input_tokens", u.InputTokens}, {"usage.output_tokens", u.OutputTokens},
		{"usage.cache_read_tokens", u.CacheReadTokens}, {"usage.cache_write_tokens", u.CacheWriteTokens},
		{"usage.cache_write_1h_tokens", u.CacheWrite1hTokens}, {"usage.reasoning_tokens", u.ReasoningTokens},
	}
	ok := true
	for _, f := range fields {
		if f.n < 0 || f.n > MaxTokens {
			v.add(f.name, "must be 0..%d, got %d", MaxTokens, f.n)
			ok = false
		}
	}
	if !ok {
		return
	}
	if u.CacheReadTokens+u.CacheWriteTokens > u.InputTokens {
		v.add("usage", "cache_read_tokens + cache_write_tokens (%d) exceed input_tokens (%d)", u.CacheReadTokens+u.CacheWriteTokens, u.InputTokens)
	}
	if u.CacheWrite1hTokens > u.CacheWriteTokens {
		v.add("usage.cache_write_1h_tokens", "exceed cache_write_tokens (%d > %d)", u.CacheWrite1hTokens, u.CacheWriteTokens)
	}
	if u.ReasoningTokens > u.OutputTokens {
		v.add("usage.reasoning_tokens", "exceed output_tokens (%d > %d)", u.ReasoningTokens, u.OutputTokens)
	}
}

// lengthRule checks a string's byte length; it reports whether it passed.
func lengthRule(v *ValidationError, field, s string, min, max int) bool {
	switch {
	case len(s) < min && min == 1:
		v.add(field, "required")
	case len(s) > max:
		v.add(field, "longer than %d chars (%d)", max, len(s))
	default:
		return true
	}
	return false
}

func tenantChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}
