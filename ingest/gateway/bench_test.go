package gateway

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/segmentio/kafka-go"
)

// BenchmarkEventsHandler is the gateway's CPU per event for batches of 100,
// with a producer that only drops: decode, validate, limits, encode, answer.
func BenchmarkEventsHandler(b *testing.B) {
	f := newFixture(&testing.T{}, func(c *Config) { c.RatePerSec, c.RateBurst = 1e12, 1e12 })
	f.g.prod = ProducerFunc(func(context.Context, []kafka.Message) error { return nil })
	var body bytes.Buffer
	for i := range 100 {
		fmt.Fprintln(&body, event(fmt.Sprint("bench-", i), `,"task_id":"t","app":"bench"`))
	}
	raw := body.Bytes()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(raw))
		r.Header.Set("Content-Type", "application/x-ndjson")
		r.Header.Set("Authorization", "Bearer "+f.key)
		w := httptest.NewRecorder()
		f.server.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}
