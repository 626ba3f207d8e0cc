package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/jevonsdev/jevons/schemas"
)

// export maps an OTLP trace request to events and accepts them: spans
// without usage are ignored, spans whose usage cannot become an event are
// rejected (counted in the partial success), the rest are produced.
func (g *Gateway) export(r *http.Request, endpoint, tenant string, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, *apiError) {
	results := g.mapper.Map(tenant, req.GetResourceSpans())
	if len(results) > g.cfg.MaxEventsPerRequest {
		return nil, errorf(http.StatusRequestEntityTooLarge, "%d usage spans in one request; at most %d", len(results), g.cfg.MaxEventsPerRequest)
	}
	evs := make([]*schemas.Event, 0, len(results))
	seen := make(map[string]struct{}, len(results))
	var rejected int64
	var firstErr string
	for i := range results {
		res := &results[i]
		if res.Err != nil {
			rejected++
			if firstErr == "" {
				firstErr = fmt.Sprintf("span %s of trace %s: %v", res.SpanID, res.TraceID, res.Err)
			}
			continue
		}
		if _, dup := seen[res.Event.EventID]; dup {
			continue // the same span twice in one request is one model call
		}
		seen[res.Event.EventID] = struct{}{}
		evs = append(evs, &res.Event)
	}
	g.m.events.WithLabelValues(endpoint, "rejected").Add(float64(rejected))
	if _, e := g.accept(r.Context(), endpoint, tenant, evs); e != nil {
		return nil, e
	}
	resp := &coltracepb.ExportTraceServiceResponse{}
	if rejected > 0 {
		resp.PartialSuccess = &coltracepb.ExportTracePartialSuccess{RejectedSpans: rejected,
			ErrorMessage: fmt.Sprintf("%d usage spans rejected; first: %s", rejected, firstErr)}
	}
	return resp, nil
}

func (g *Gateway) handleTraces(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	defer g.count("/v1/traces", sw)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	isJSON := ct == "application/json"
	if !isJSON && ct != "application/x-protobuf" {
		writeOTLPError(sw, false, errorf(http.StatusUnsupportedMediaType, "Content-Type %q: want application/x-protobuf or application/json", ct))
		return
	}
	resp, e := g.traces(sw, r, isJSON)
	if e != nil {
		writeOTLPError(sw, isJSON, e)
		return
	}
	writeOTLP(sw, isJSON, http.StatusOK, resp)
}

func (g *Gateway) traces(w http.ResponseWriter, r *http.Request, isJSON bool) (*coltracepb.ExportTraceServiceResponse, *apiError) {
	tenant, e := g.tenant(r)
	if e != nil {
		return nil, e
	}
	body, e := g.body(w, r)
	if e != nil {
		return nil, e
	}
	req, err := DecodeTraces(body, isJSON)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "%v", err)
	}
	return g.export(r, "/v1/traces", tenant, req)
}

// DecodeTraces decodes an OTLP/HTTP trace request body, protobuf or JSON.
// OTLP JSON differs from protobuf's canonical JSON in one point: trace and
// span ids are hex, not base64; they are converted before decoding.
func DecodeTraces(body []byte, isJSON bool) (*coltracepb.ExportTraceServiceRequest, error) {
	req := &coltracepb.ExportTraceServiceRequest{}
	if !isJSON {
		if err := proto.Unmarshal(body, req); err != nil {
			return nil, fmt.Errorf("OTLP protobuf: %w", err)
		}
		return req, nil
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("OTLP JSON: %w", err)
	}
	if err := hexIDs(doc); err != nil {
		return nil, err
	}
	canon, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("OTLP JSON: %w", err)
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(canon, req); err != nil {
		return nil, fmt.Errorf("OTLP JSON: %w", err)
	}
	return req, nil
}

// hexIDs rewrites traceId, spanId and parentSpanId of spans and links from
// hex to base64.
func hexIDs(doc any) error {
	root, _ := doc.(map[string]any)
	for _, rs := range list(root["resourceSpans"]) {
		for _, ss := range list(obj(rs)["scopeSpans"]) {
			for _, sp := range list(obj(ss)["spans"]) {
				if err := convertIDs(obj(sp)); err != nil {
					return err
				}
				for _, l := range list(obj(sp)["links"]) {
					if err := convertIDs(obj(l)); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func list(v any) []any         { l, _ := v.([]any); return l }
func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }

func convertIDs(m map[string]any) error {
	for _, k := range []string{"traceId", "spanId", "parentSpanId"} {
		s, ok := m[k].(string)
		if !ok || s == "" {
			continue
		}
		b, err := hex.DecodeString(s)
		if err != nil {
			return fmt.Errorf("OTLP JSON: %s %q: want hex", k, s)
		}
		m[k] = base64.StdEncoding.EncodeToString(b)
	}
	return nil
}

// writeOTLP answers with a protobuf message in the request's encoding.
func writeOTLP(w http.ResponseWriter, isJSON bool, code int, m proto.Message) {
	var data []byte
	if isJSON {
		w.Header().Set("Content-Type", "application/json")
		data, _ = protojson.Marshal(m)
	} else {
		w.Header().Set("Content-Type", "application/x-protobuf")
		data, _ = proto.Marshal(m)
	}
	w.WriteHeader(code)
	_, _ = w.Write(data)
}

// writeOTLPError answers with a google.rpc.Status, as OTLP/HTTP requires;
// 429 and 503 carry Retry-After, which exporters honour.
func writeOTLPError(w http.ResponseWriter, isJSON bool, e *apiError) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(e.RetryAfter)))
	}
	writeOTLP(w, isJSON, e.Code, &spb.Status{Code: int32(grpcCode(e.Code)), Message: e.Msg})
}

// grpcCode maps an HTTP status to the gRPC code OTLP clients expect.
func grpcCode(httpCode int) codes.Code {
	switch httpCode {
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	case http.StatusNotImplemented:
		return codes.Unimplemented
	}
	if strings.HasPrefix(strconv.Itoa(httpCode), "4") {
		return codes.InvalidArgument
	}
	return codes.Internal
}
