package emit

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/internal/itest"
)

// BenchmarkEmitQueue measures Emit alone: validate, encode, enqueue. The
// broker is unreachable, so nothing drains the queue; the queue is sized to
// hold every event.
func BenchmarkEmitQueue(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Brokers = []string{"127.0.0.1:1"}
	cfg.QueueSize = b.N + 1
	em, err := New(cfg, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer em.Close(canceled())
	ev := testEvent("a0001", 1)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := em.Emit(context.Background(), ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEmitToKafka measures events/s from Emit until every event is
// acknowledged by the real broker (acks=all, lz4).
func BenchmarkEmitToKafka(b *testing.B) {
	broker := itest.Kafka(b)
	cfg := DefaultConfig()
	cfg.Brokers, cfg.Topic = []string{broker}, fmt.Sprintf("emit-bench-%d", time.Now().UnixNano())
	cfg.QueueSize = 200_000
	em, err := New(cfg, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	// Let the topic exist before timing.
	_ = em.Emit(context.Background(), testEvent("a0000", 0))
	for s := em.Stats(); s.Sent+s.Failed == 0; s = em.Stats() {
		time.Sleep(10 * time.Millisecond)
	}
	if s := em.Stats(); s.Failed > 0 {
		b.Fatalf("first event not sent: %+v", s)
	}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		k := i % 1000
		ev := testEvent(fmt.Sprintf("%c%04d", 'a'+k%3, k), i)
		for errors.Is(em.Emit(context.Background(), ev), ErrQueueFull) {
			time.Sleep(100 * time.Microsecond)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := em.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
