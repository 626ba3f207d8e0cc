package emit

import (
	"context"
	"errors"
	"fmt"
	"syscall"
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
// acknowledged by the real broker (acks=all, lz4), and the process's CPU
// time per event.
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
	start, cpu := time.Now(), processCPU()
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
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op") // the events' making included
}

// BenchmarkEmitTrickle measures what one event costs a service whose events
// trickle in, each sent in a produce request of its own to the real broker:
// the bytes the process allocates per event. (Its CPU time would mostly be
// the wait for each acknowledgement.)
func BenchmarkEmitTrickle(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Brokers, cfg.Topic = []string{itest.Kafka(b)}, fmt.Sprintf("emit-trickle-%d", time.Now().UnixNano())
	em, err := New(cfg, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer em.Close(canceled())
	trickle(b, em, 5, 5) // the topic and the connections exist before timing
	b.ResetTimer()
	alloc := trickle(b, em, b.N, 0)
	b.ReportMetric(float64(alloc)/float64(b.N), "B/event")
}

// processCPU is the user and system CPU time of the process, in ns.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
