package providers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jevonsdev/jevons/schemas"
)

// Meta is what the caller knows that the body does not: tenant, task, app,
// and overrides. Empty fields are taken from the body or defaulted.
type Meta struct {
	EventID   string
	Time      time.Time
	Tenant    string
	TaskID    string
	TaskType  string
	TaskDone  bool
	App       string
	Model     string // used when the body names no model (Bedrock, a bare usage object)
	Operation string
	Status    string
	LatencyMs int64
}

// Error is a body that cannot become an event.
type Error struct{ Field, Msg string }

func (e *Error) Error() string { return e.Field + ": " + e.Msg }

type mapper func(body []byte, e *schemas.Event) error

var mappers = map[string]struct {
	provider string
	m        mapper
}{
	"openai":    {"openai", openAI},
	"anthropic": {"anthropic", anthropic},
	"gemini":    {"gcp.gemini", gemini},
	"bedrock":   {"aws.bedrock", bedrock},
}

// Names lists the providers Map knows, sorted.
func Names() []string {
	var n []string
	for k := range mappers {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Map turns a provider's response body (or its usage object) into a
// validated event. now is the event time when neither meta nor the body
// gives one.
func Map(provider string, body []byte, meta Meta, now time.Time) (schemas.Event, error) {
	p, ok := mappers[provider]
	if !ok {
		return schemas.Event{}, &Error{"provider", fmt.Sprintf("unknown provider %q (known: %v)", provider, Names())}
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return schemas.Event{}, &Error{"body", "want a JSON object: the provider's response or its usage object"}
	}
	e := schemas.Event{Provider: p.provider}
	if err := p.m(body, &e); err != nil {
		return schemas.Event{}, err
	}
	apply(&e, meta, now)
	if e.EventID == "" {
		return e, &Error{"event_id", "required: the body carries no response id; send X-Jevons-Event-Id (or ?event_id=) so retries count once"}
	}
	if e.Model == "" {
		return e, &Error{"model", "required: the body names no model; send X-Jevons-Model (or ?model=)"}
	}
	return e, e.Validate()
}

func apply(e *schemas.Event, m Meta, now time.Time) {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&e.EventID, m.EventID)
	if e.Model == "" {
		e.Model = m.Model
	}
	set(&e.Operation, m.Operation)
	set(&e.Status, m.Status)
	e.Tenant, e.TaskID, e.TaskType, e.TaskDone, e.App = m.Tenant, m.TaskID, m.TaskType, m.TaskDone, m.App
	if m.LatencyMs > 0 {
		e.LatencyMs = m.LatencyMs
	}
	switch {
	case !m.Time.IsZero():
		e.Time = m.Time
	case e.Time.IsZero():
		e.Time = now
	}
}

// decode unmarshals a JSON object, naming the provider in its error.
func decode(what string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &Error{what + "." + te.Field, fmt.Sprintf("want %s, got JSON %s", te.Type, te.Value)}
		}
		return &Error{what, "not valid JSON: " + err.Error()}
	}
	return nil
}

// sum adds token counts, refusing overflow past schema v1's maximum.
func sum(field string, ns ...int64) (int64, error) {
	var s int64
	for _, n := range ns {
		if n < 0 || n > schemas.MaxTokens {
			return 0, &Error{field, fmt.Sprintf("token counts must be 0..%d, got %d", schemas.MaxTokens, n)}
		}
		s += n
	}
	return s, nil
}

// envelope holds the fields read from a whole response body.
type envelope struct {
	ID            string          `json:"id"`
	ResponseID    string          `json:"responseId"`
	Model         string          `json:"model"`
	ModelVersion  string          `json:"modelVersion"`
	Created       int64           `json:"created"`
	CreatedAt     int64           `json:"created_at"`
	Usage         json.RawMessage `json:"usage"`
	UsageMetadata json.RawMessage `json:"usageMetadata"`
	Metrics       struct {
		LatencyMs int64 `json:"latencyMs"`
	} `json:"metrics"`
}

// split returns the envelope and the usage object: the body's usage field,
// or the whole body when it is itself a usage object.
func split(body []byte, usageField func(*envelope) json.RawMessage) (envelope, []byte, error) {
	var env envelope
	if err := decode("body", body, &env); err != nil {
		return env, nil, err
	}
	u := usageField(&env)
	if len(u) == 0 || string(u) == "null" {
		return envelope{}, body, nil
	}
	return env, u, nil
}

func unixTime(s int64) time.Time {
	if s <= 0 || s > 1<<33 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}
