package gateway

import (
	"errors"
	"net/http"
	"strings"
	"sync"

	"github.com/jevonsdev/jevons/schemas"
)

// EventResult is one event's fate in a /v1/events response.
type EventResult struct {
	Index   int          `json:"index"`
	EventID string       `json:"event_id,omitempty"`
	Status  string       `json:"status"` // accepted, duplicate, rejected, not_sent (atomic batch)
	Capped  bool         `json:"capped,omitempty"`
	Errors  []FieldError `json:"errors,omitempty"`
}

// FieldError locates one reason for a rejection.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// EventsResponse is the body of a /v1/events answer.
type EventsResponse struct {
	Accepted   int           `json:"accepted"`
	Duplicates int           `json:"duplicates"`
	Rejected   int           `json:"rejected"`
	Capped     int           `json:"capped"`
	Note       string        `json:"note,omitempty"`
	Results    []EventResult `json:"results"`
}

var decoders = sync.Pool{New: func() any { return new(schemas.Decoder) }}

// decodeEvent decodes one raw event for tenant: a missing tenant is the
// key's, another tenant is forbidden (reported by forbidden=true).
func decodeEvent(d *schemas.Decoder, raw []byte, tenant string, ev *schemas.Event) (errs []FieldError, forbidden bool) {
	err := d.Decode(raw, ev)
	var ve *schemas.ValidationError
	switch {
	case err == nil:
	case errors.As(err, &ve):
		for _, v := range ve.Violations {
			if v.Field == "tenant" && ev.Tenant == "" {
				continue // filled from the key below
			}
			errs = append(errs, FieldError{Field: v.Field, Reason: v.Msg})
		}
	default:
		return []FieldError{{Field: "", Reason: err.Error()}}, false
	}
	switch ev.Tenant {
	case "":
		ev.Tenant = tenant
	case tenant:
	default:
		return nil, true
	}
	return errs, false
}

func (g *Gateway) handleEvents(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	defer g.count("/v1/events", sw)
	resp, e := g.events(r, sw)
	if e != nil {
		writeError(sw, e)
		return
	}
	code := http.StatusOK
	if resp.Accepted == 0 && resp.Rejected > 0 {
		code = http.StatusUnprocessableEntity
	}
	writeJSON(sw, code, resp)
}

func (g *Gateway) events(r *http.Request, w http.ResponseWriter) (*EventsResponse, *apiError) {
	tenant, e := g.tenant(r)
	if e != nil {
		return nil, e
	}
	body, e := g.body(w, r)
	if e != nil {
		return nil, e
	}
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	raws, err := splitBatch(body, strings.Contains(ct, "ndjson") || strings.Contains(ct, "jsonl"))
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "%v", err)
	}
	switch {
	case len(raws) == 0:
		return nil, errorf(http.StatusBadRequest, "body: no events")
	case len(raws) > g.cfg.MaxEventsPerRequest:
		return nil, errorf(http.StatusRequestEntityTooLarge, "%d events in one request; at most %d", len(raws), g.cfg.MaxEventsPerRequest)
	}
	atomic := r.URL.Query().Get("atomic") == "true"
	resp := &EventsResponse{Results: make([]EventResult, len(raws))}
	evs := make([]schemas.Event, len(raws))
	good := make([]*schemas.Event, 0, len(raws))
	goodIdx := make([]int, 0, len(raws))
	seen := make(map[string]struct{}, len(raws))
	d := decoders.Get().(*schemas.Decoder)
	defer decoders.Put(d)
	for i, raw := range raws {
		res := &resp.Results[i]
		res.Index = i
		errs, forbidden := decodeEvent(d, raw, tenant, &evs[i])
		res.EventID = evs[i].EventID
		if forbidden {
			g.m.events.WithLabelValues("/v1/events", "forbidden").Add(float64(len(raws)))
			return nil, errorf(http.StatusForbidden, "event %d names tenant %q, but the key belongs to tenant %q; nothing was accepted", i, evs[i].Tenant, tenant)
		}
		if len(errs) > 0 {
			res.Status, res.Errors = "rejected", errs
			resp.Rejected++
			continue
		}
		if _, dup := seen[evs[i].EventID]; dup {
			res.Status = "duplicate"
			resp.Duplicates++
			continue
		}
		seen[evs[i].EventID] = struct{}{}
		good = append(good, &evs[i])
		goodIdx = append(goodIdx, i)
	}
	g.m.events.WithLabelValues("/v1/events", "rejected").Add(float64(resp.Rejected))
	g.m.events.WithLabelValues("/v1/events", "duplicate").Add(float64(resp.Duplicates))
	if atomic && resp.Rejected > 0 {
		for _, i := range goodIdx {
			resp.Results[i].Status = "not_sent"
		}
		resp.Note = "atomic=true: a rejected event fails the whole batch; nothing was sent"
		return resp, nil
	}
	capped, e := g.accept(r.Context(), "/v1/events", tenant, good)
	if e != nil {
		return nil, e
	}
	for j, i := range goodIdx {
		resp.Results[i].Status = "accepted"
		if capped[j] {
			resp.Results[i].Capped = true
			resp.Capped++
		}
	}
	resp.Accepted = len(good)
	if resp.Capped > 0 {
		resp.Note = errorText("%d events exceed the tenant's daily cap of %d distinct (app, task_type, model): counted with app and task_type %q", resp.Capped, g.cfg.MaxCardinality, Other)
	}
	return resp, nil
}
