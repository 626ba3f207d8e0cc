package gateway

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (g *Gateway) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/events", g.handleEvents)
	mux.HandleFunc("POST /v1/traces", g.handleTraces)
	mux.HandleFunc("POST /v1/metrics", g.handleMetrics)
	mux.HandleFunc("POST /v1/logs", g.handleMetrics)
	mux.HandleFunc("POST /v1/usage/{provider}", g.handleUsage)
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !g.ready.Load() {
			http.Error(w, "not ready: the Kafka topic is not ensured yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}

// statusWriter remembers the status code for the request counter.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

func (g *Gateway) count(endpoint string, w *statusWriter) {
	code := w.code
	if code == 0 {
		code = http.StatusOK
	}
	g.m.requests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
}

// tenant authenticates the request.
func (g *Gateway) tenant(r *http.Request) (string, *apiError) {
	t, err := g.keys.Tenant(r.Header.Get("Authorization"))
	if err != nil {
		return "", &apiError{Code: http.StatusUnauthorized, Msg: err.Error() + "; nothing was accepted"}
	}
	return t, nil
}

// body reads the request body, gunzipping it when Content-Encoding says
// gzip; both the sent and the decompressed size are capped.
func (g *Gateway) body(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	limit := g.cfg.MaxBodyBytes
	var rd io.Reader = http.MaxBytesReader(w, r.Body, limit)
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, g.bodyError(err, "gzip")
		}
		rd = io.LimitReader(zr, limit+1)
	default:
		return nil, errorf(http.StatusUnsupportedMediaType, "Content-Encoding %q: want gzip or none", enc)
	}
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, g.bodyError(err, "read")
	}
	if int64(len(data)) > limit {
		return nil, errorf(http.StatusRequestEntityTooLarge, "body larger than %d bytes once decompressed: split the request", limit)
	}
	return data, nil
}

func (g *Gateway) bodyError(err error, what string) *apiError {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return errorf(http.StatusRequestEntityTooLarge, "body larger than %d bytes: split the request", mb.Limit)
	}
	return errorf(http.StatusBadRequest, "body (%s): %v", what, err)
}

// writeJSON answers with a JSON document.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with {"error": msg}, and Retry-After when given.
func writeError(w http.ResponseWriter, e *apiError) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(e.RetryAfter)))
	}
	writeJSON(w, e.Code, map[string]string{"error": e.Msg})
}

// handleMetrics explains why OTLP metrics and logs are not taken.
func (g *Gateway) handleMetrics(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	defer g.count(r.URL.Path, sw)
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, g.cfg.MaxBodyBytes))
	writeError(sw, errorf(http.StatusNotImplemented, "%s is not supported: OTLP metrics (gen_ai.client.token.usage) are histograms summed over many requests, "+
		"without event ids, task ids or cache and reasoning token kinds, so they cannot be counted exactly once nor priced per request; "+
		"send traces to /v1/traces (one span per model call), schema v1 events to /v1/events, or provider usage to /v1/usage/{provider}", r.URL.Path))
}

func errorText(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func itoa(n int) string { return strconv.Itoa(n) }
