package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/jevonsdev/jevons/ingest/providers"
	"github.com/jevonsdev/jevons/schemas"
)

// UsageResponse is the body of a /v1/usage/{provider} answer.
type UsageResponse struct {
	Status string          `json:"status"`
	Capped bool            `json:"capped,omitempty"`
	Event  json.RawMessage `json:"event"`
}

// param reads X-Jevons-<Header> or the query parameter name.
func param(r *http.Request, header, name string) string {
	if v := r.Header.Get("X-Jevons-" + header); v != "" {
		return v
	}
	return r.URL.Query().Get(name)
}

// usageMeta reads the request's metadata, reporting every malformed value.
func usageMeta(r *http.Request) (providers.Meta, []FieldError) {
	m := providers.Meta{
		EventID: param(r, "Event-Id", "event_id"), Tenant: param(r, "Tenant", "tenant"),
		TaskID: param(r, "Task-Id", "task_id"), TaskType: param(r, "Task-Type", "task_type"),
		App: param(r, "App", "app"), Model: param(r, "Model", "model"),
		Operation: param(r, "Operation", "operation"), Status: param(r, "Status", "status"),
	}
	var errs []FieldError
	if v := param(r, "Time", "time"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			errs = append(errs, FieldError{"time", "want RFC 3339, got " + strconv.Quote(v)})
		}
		m.Time = t
	}
	if v := param(r, "Latency-Ms", "latency_ms"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			errs = append(errs, FieldError{"latency_ms", "want an integer >= 0, got " + strconv.Quote(v)})
		}
		m.LatencyMs = n
	}
	if v := param(r, "Task-Done", "task_done"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, FieldError{"task_done", "want true or false, got " + strconv.Quote(v)})
		}
		m.TaskDone = b
	}
	return m, errs
}

func (g *Gateway) handleUsage(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	endpoint := "/v1/usage/" + r.PathValue("provider")
	defer g.count(endpoint, sw)
	tenant, e := g.tenant(r)
	if e != nil {
		writeError(sw, e)
		return
	}
	body, e := g.body(sw, r)
	if e != nil {
		writeError(sw, e)
		return
	}
	meta, errs := usageMeta(r)
	if meta.Tenant != "" && meta.Tenant != tenant {
		writeError(sw, errorf(http.StatusForbidden, "tenant %q named, but the key belongs to tenant %q; nothing was accepted", meta.Tenant, tenant))
		return
	}
	meta.Tenant = tenant
	reject := func(errs []FieldError) {
		g.m.events.WithLabelValues(endpoint, "rejected").Inc()
		writeJSON(sw, http.StatusUnprocessableEntity, map[string]any{"status": "rejected", "errors": errs})
	}
	if len(errs) > 0 {
		reject(errs)
		return
	}
	ev, err := providers.Map(r.PathValue("provider"), body, meta, g.cfg.Now().UTC())
	if err != nil {
		var pe *providers.Error
		var ve *schemas.ValidationError
		switch {
		case errors.As(err, &pe):
			if pe.Field == "provider" {
				writeError(sw, errorf(http.StatusNotFound, "%s", pe.Error()))
				return
			}
			reject([]FieldError{{pe.Field, pe.Msg}})
		case errors.As(err, &ve):
			for _, v := range ve.Violations {
				errs = append(errs, FieldError{v.Field, v.Msg})
			}
			reject(errs)
		default:
			reject([]FieldError{{"body", err.Error()}})
		}
		return
	}
	capped, e := g.accept(r.Context(), endpoint, tenant, []*schemas.Event{&ev})
	if e != nil {
		writeError(sw, e)
		return
	}
	writeJSON(sw, http.StatusOK, UsageResponse{Status: "accepted", Capped: capped[0], Event: schemas.AppendJSON(nil, &ev)})
}
