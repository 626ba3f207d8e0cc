package emit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/internal/itest"
	"github.com/jevonsdev/jevons/internal/topics"
	"github.com/jevonsdev/jevons/schemas"
)

func testEvent(key string, seq int) *schemas.Event {
	return &schemas.Event{
		EventID: fmt.Sprintf("%s-%d", key, seq), Time: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
		Tenant: "t" + key[:1], TaskID: key, Provider: "openai", Model: "gpt-4o",
		Usage: schemas.Usage{InputTokens: int64(seq), OutputTokens: 1},
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	cfg := Config{Compression: "brotli"}
	err := cfg.Validate()
	for _, want := range []string{"brokers", "topic", "partitions", "queue size", "compression"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func TestEmitRejectsInvalidEventsWithoutQueueing(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Brokers = []string{"127.0.0.1:1"} // never reached
	em, err := New(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close(canceled())
	var ve *schemas.ValidationError
	if err := em.Emit(context.Background(), &schemas.Event{EventID: "x"}); !errors.As(err, &ve) {
		t.Fatalf("got %v, want a validation error", err)
	}
	if s := em.Stats(); s.Rejected != 1 || s.Emitted != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestFullQueueDropsAndCountsWithoutBlocking(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Brokers = []string{"127.0.0.1:1"} // unreachable: nothing drains the queue
	cfg.QueueSize = 10
	em, err := New(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	var drops int
	for i := range 100 {
		if err := em.Emit(context.Background(), testEvent("k", i)); errors.Is(err, ErrQueueFull) {
			drops++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	s := em.Stats()
	if drops == 0 || s.Dropped != uint64(drops) || s.Emitted+s.Dropped != 100 {
		t.Fatalf("drops %d, stats %+v", drops, s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := em.Close(ctx); err == nil || !strings.Contains(err.Error(), "not confirmed sent") {
		t.Fatalf("Close with an unreachable broker: %v", err)
	}
	if err := em.Close(ctx); err == nil {
		t.Fatal("second Close hid the unsent events")
	}
	if err := em.Emit(context.Background(), testEvent("k", 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Emit after Close: %v", err)
	}
}

// The in-process broker checks the wiring quickly; the real broker test
// below is the one that counts.
func TestEmitToInProcessBroker(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	emitAndReadBack(t, c.ListenAddrs()[0], 2_000, 20)
}

func TestEmitToRealBrokerKeepsEveryEventInOrderPerKey(t *testing.T) {
	emitAndReadBack(t, itest.Kafka(t), 100_000, 500)
}

func emitAndReadBack(t *testing.T, broker string, events, keys int) {
	t.Helper()
	topic := fmt.Sprintf("emit-test-%d", time.Now().UnixNano())
	cfg := DefaultConfig()
	cfg.Brokers, cfg.Topic, cfg.Partitions = []string{broker}, topic, 6
	em, err := New(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	for i := range events {
		k := i % keys
		key := fmt.Sprintf("%c%04d", 'a'+k%3, k)
		if err := em.Emit(context.Background(), testEvent(key, i/keys)); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if i%20_000 == 0 {
			for em.Stats().Emitted-em.Stats().Sent > 50_000 { // stay inside the queue
				time.Sleep(time.Millisecond)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := em.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s := em.Stats(); s.Sent != uint64(events) {
		t.Fatalf("stats %+v", s)
	}

	n, err := topics.Partitions(ctx, nil, []string{broker}, topic)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	perKey := map[string][]int{}
	var wg sync.WaitGroup
	for p := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, m := range readPartition(t, ctx, broker, topic, p) {
				var d schemas.Decoder
				var ev schemas.Event
				if err := d.Decode(m.Value, &ev); err != nil {
					t.Errorf("partition %d offset %d: %v", p, m.Offset, err)
					return
				}
				if string(m.Key) != ev.Key() {
					t.Errorf("key %q for event of %q", m.Key, ev.Key())
				}
				seq, _ := strconv.Atoi(ev.EventID[strings.LastIndexByte(ev.EventID, '-')+1:])
				mu.Lock()
				perKey[ev.Key()] = append(perKey[ev.Key()], seq)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	total := 0
	for k, seqs := range perKey {
		total += len(seqs)
		if len(seqs) != events/keys {
			t.Errorf("key %s: %d events, want %d", k, len(seqs), events/keys)
		}
		for i := range seqs {
			if seqs[i] != i {
				t.Fatalf("key %s out of order at %d: %v", k, i, seqs[:i+1])
			}
		}
	}
	if total != events || len(perKey) != keys {
		t.Fatalf("read %d events for %d keys, want %d for %d", total, len(perKey), events, keys)
	}
}

func readPartition(t *testing.T, ctx context.Context, broker, topic string, p int) []kafka.Message {
	conn, err := kafka.DialLeader(ctx, "tcp", broker, topic, p)
	if err != nil {
		t.Error(err)
		return nil
	}
	last, err := conn.ReadLastOffset()
	conn.Close()
	if err != nil {
		t.Error(err)
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: topic, Partition: p, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	var out []kafka.Message
	for int64(len(out)) < last {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Error(err)
			return out
		}
		out = append(out, m)
	}
	return out
}

// A service whose events trickle in sends each in a produce request of its
// own. kafka-go gives every new batch room for the writer's batch size
// (760 KB at 5,000), so the emitter keeps that size at its smallest while
// events come one at a time (BenchmarkEmitTrickle has the real broker's
// figures).
func TestATrickleOfEventsCostsLittleMemoryPerEvent(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := DefaultConfig()
	cfg.Brokers, cfg.Topic = c.ListenAddrs(), fmt.Sprintf("emit-trickle-%d", time.Now().UnixNano())
	if raceEnabled {
		cfg.Compression = "none"
	}
	em, err := New(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close(canceled())
	const n = 40
	perEvent := trickle(t, em, n+5, 5) / n
	t.Logf("%d bytes allocated per event, one event per produce request", perEvent)
	// About 9,000 bytes here, the in-process broker's share included, and
	// 18,000 to 90,000 under -race (the figure is the process's: it holds
	// what the package's earlier tests left running); 0.77 to 0.88 MB, or
	// 1.54 MB under -race, when every batch had room for BatchSize
	// messages.
	const limit = 300_000
	if perEvent > limit {
		t.Fatalf("%d bytes allocated per event sent alone, want at most %d", perEvent, limit)
	}
	// The pump set the size before the last write, which the last
	// acknowledgement, read through Stats, follows.
	if got := em.writer.BatchSize; got != minBatchSize {
		t.Fatalf("batch size %d after a trickle, want %d", got, minBatchSize)
	}
}

// trickle emits n events one at a time, each once the one before it is
// acknowledged, and returns the bytes the process allocated for the last
// n-skip of them.
func trickle(tb testing.TB, em *Emitter, n, skip int) uint64 {
	tb.Helper()
	var m0, m1 runtime.MemStats
	s0 := em.Stats() // the emitter's counts go on from any earlier call
	for i := range n {
		if i == skip {
			runtime.ReadMemStats(&m0)
		}
		if err := em.Emit(context.Background(), testEvent(fmt.Sprintf("a%04d", i%1000), i)); err != nil { // keys across partitions
			tb.Fatal(err)
		}
		deadline := time.Now().Add(time.Minute)
		for s := em.Stats(); s.Sent+s.Failed < s0.Sent+s0.Failed+uint64(i+1); s = em.Stats() {
			if time.Now().After(deadline) {
				tb.Fatalf("event %d not acknowledged within a minute: %+v", i, s)
			}
			time.Sleep(time.Millisecond)
		}
		if s := em.Stats(); s.Failed > s0.Failed {
			tb.Fatalf("event %d failed: %+v", i, s)
		}
	}
	runtime.ReadMemStats(&m1)
	return m1.TotalAlloc - m0.TotalAlloc
}

// The batch size follows the events written per window: the smallest for a
// trickle, twice a steady rate's window, BatchSize at once for a burst, and
// back down once the rate falls.
func TestTheBatchSizeFollowsTheRate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const w = 20 * time.Millisecond
	s := newBatchSizer(5000, w)
	at := func(d time.Duration, n, want int) {
		t.Helper()
		if got := s.next(t0.Add(d), n); got != want {
			t.Fatalf("at %v after %d events: size %d, want %d", d, n, got, want)
		}
	}
	at(0, 1, minBatchSize) // a trickle
	at(100*time.Millisecond, 1, minBatchSize)
	at(200*time.Millisecond, 5000, 5000)                           // a burst, at its first write
	at(200*time.Millisecond+w, 1, 5000)                            // the window before still counts
	at(200*time.Millisecond+2*w+time.Millisecond, 1, minBatchSize) // a window on: it does not
	// 1,000 events a window, in writes of 100: twice the window's count
	// so far, rounded up to a power of two.
	for i, want := range []int{256, 512, 1024, 1024, 1024, 2048, 2048, 2048, 2048, 2048} {
		at(time.Second+time.Duration(i)*w/10, 100, want)
	}
	at(time.Second+w, 1, 2048)           // the next window: twice the 1,000 before
	at(time.Second+2*w, 1, minBatchSize) // the rate fell
	s = newBatchSizer(5000, 0)           // kafka-go's default window, a second
	at(0, 600, 2048)
	at(900*time.Millisecond, 600, 4096)
	at(1500*time.Millisecond, 1, 4096)
	for _, c := range []struct{ limit, trickle, burst int }{{1, 1, 1}, {10, 10, 10}, {100, 16, 100}} {
		s = newBatchSizer(c.limit, w) // BatchSize below the smallest size, or between
		at(0, 1, c.trickle)
		at(0, 1000, c.burst)
	}
}

// kafka-go asks that a Writer's configuration not change after its first
// use; the emitter changes BatchSize before each write, which v0.4.51
// reads only within WriteMessages (partitionWriter.writeMessages, on the
// caller's goroutine) and Writer.Stats (never called on the emitter's
// writer). Another version must be read again for that before go.mod
// takes it.
func TestKafkaGoIsTheVersionWhoseBatchSizeReadsWereChecked(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "github.com/segmentio/kafka-go" {
			if f[1] != "v0.4.51" {
				t.Fatalf("kafka-go %s: check where it reads Writer.BatchSize (see batchSizer), then update this test", f[1])
			}
			return
		}
	}
	t.Fatal("go.mod requires no github.com/segmentio/kafka-go")
}
