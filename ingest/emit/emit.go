package emit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/internal/topics"
	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/secure"
)

// DefaultTopic is the topic Jevons reads token events from.
const DefaultTopic = "jevons.token-events"

// Config configures an Emitter.
type Config struct {
	Brokers []string
	Topic   string
	// Partitions and ReplicationFactor apply when the topic is created
	// because it is missing (-1: the broker's default replication factor);
	// an existing topic is never changed.
	Partitions        int
	ReplicationFactor int
	// QueueSize bounds the events waiting to be sent. When it is full, Emit
	// drops the event (counted) unless BlockTimeout > 0, in which case Emit
	// waits up to BlockTimeout for room first.
	QueueSize    int
	BlockTimeout time.Duration
	// BatchSize and BatchTimeout shape Kafka produce requests: a
	// partition's batch is sent BatchTimeout after its first event, or
	// sooner when it holds the writer's batch size: BatchSize at full
	// speed. kafka-go gives every new batch room for that many messages,
	// zeroed, so while events come slowly the emitter lowers the size (see
	// batchSizer): an event trickling in does not pay for room for
	// BatchSize (README "Producing events").
	BatchSize    int
	BatchTimeout time.Duration
	// Compression: none, gzip, snappy, lz4 or zstd.
	Compression string
	// MaxAttempts is how often a batch is tried before its events count as
	// failed; attempts back off from 100ms up to 1s. The default, 40, is
	// about 37 s: it outlasts a broker's failover in a cluster (the
	// controller fences a dead broker after its 9 s session timeout, then
	// producers refresh metadata), which 10 attempts (about 7 s) did not.
	MaxAttempts int
	// MaxInFlight bounds the events handed to the Kafka writer and not yet
	// acknowledged, so that a slow broker cannot grow memory.
	MaxInFlight int
	// Security: SASL/SCRAM and TLS towards the brokers; the zero value is
	// plaintext without authentication.
	Security secure.KafkaConfig
}

// DefaultConfig returns the defaults for a local broker.
func DefaultConfig() Config {
	return Config{
		Brokers: []string{"127.0.0.1:9092"}, Topic: DefaultTopic, Partitions: 12, ReplicationFactor: -1,
		QueueSize: 100_000, BatchSize: 5_000, BatchTimeout: 20 * time.Millisecond,
		Compression: "lz4", MaxAttempts: 40, MaxInFlight: 200_000,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("brokers: none given"))
	}
	if c.Topic == "" {
		errs = append(errs, errors.New("topic: empty"))
	}
	if c.Partitions < 1 || (c.ReplicationFactor < 1 && c.ReplicationFactor != -1) {
		errs = append(errs, fmt.Errorf("partitions must be >= 1 and replication factor >= 1 or -1 for the broker default (got %d, %d)", c.Partitions, c.ReplicationFactor))
	}
	if c.QueueSize < 1 || c.BatchSize < 1 || c.MaxAttempts < 1 || c.MaxInFlight < c.BatchSize {
		errs = append(errs, fmt.Errorf("queue size, batch size and max attempts must be >= 1 and max in flight >= batch size (got %d, %d, %d, %d)",
			c.QueueSize, c.BatchSize, c.MaxAttempts, c.MaxInFlight))
	}
	if _, err := compression(c.Compression); err != nil {
		errs = append(errs, err)
	}
	if err := c.Security.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func compression(name string) (kafka.Compression, error) {
	switch strings.ToLower(name) {
	case "", "none":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "lz4":
		return kafka.Lz4, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("compression: want none, gzip, snappy, lz4 or zstd, got %q", name)
}

// Stats counts events by fate. Emitted = queued; each queued event ends as
// sent, failed, or (after Close gave up) unsent.
type Stats struct {
	Emitted  uint64 // accepted into the queue
	Rejected uint64 // failed validation; never queued
	Dropped  uint64 // queue full; never queued
	Sent     uint64 // acknowledged by all in-sync replicas
	Failed   uint64 // given up after MaxAttempts
}

// ErrClosed is returned by Emit after Close.
var ErrClosed = errors.New("emit: emitter is closed")

// ErrQueueFull is returned by Emit when an event is dropped.
var ErrQueueFull = errors.New("emit: queue full, event dropped")

// Emitter sends token events to Kafka in the background.
type Emitter struct {
	cfg    Config
	sec    *secure.Kafka
	log    *zap.Logger
	writer *kafka.Writer
	queue  chan kafka.Message

	mu     sync.RWMutex // guards closed against sends on a closed queue
	closed bool

	inFlight chan struct{} // one token per event handed to the writer
	done     chan struct{} // pump finished
	stop     chan struct{} // Close gave up: abandon the queue

	emitted, rejected, dropped, sent, failed atomic.Uint64
}

// New starts an Emitter. It does not wait for Kafka: the topic is ensured
// and events are sent in the background, so a service starts even while
// the broker is unreachable.
func New(cfg Config, log *zap.Logger) (*Emitter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("emit config: %w", err)
	}
	codec, _ := compression(cfg.Compression)
	sec, err := cfg.Security.Load()
	if err != nil {
		return nil, fmt.Errorf("emit config: %w", err)
	}
	e := &Emitter{
		cfg: cfg, sec: sec, log: log.Named("emit"),
		queue:    make(chan kafka.Message, cfg.QueueSize),
		inFlight: make(chan struct{}, cfg.MaxInFlight),
		done:     make(chan struct{}),
		stop:     make(chan struct{}),
	}
	e.writer = &kafka.Writer{
		Addr:                   kafka.TCP(cfg.Brokers...),
		Topic:                  cfg.Topic,
		Balancer:               &kafka.Murmur2Balancer{}, // the Java client's key->partition mapping
		RequiredAcks:           kafka.RequireAll,         // kafka-go's zero value does not wait for acks
		Compression:            codec,
		BatchSize:              cfg.BatchSize,
		BatchBytes:             16 << 20,
		BatchTimeout:           cfg.BatchTimeout,
		MaxAttempts:            cfg.MaxAttempts,
		WriteBackoffMin:        100 * time.Millisecond,
		WriteBackoffMax:        time.Second,
		Async:                  true,
		AllowAutoTopicCreation: false,
		Completion:             e.complete,
		// A transport of its own: it first reads metadata at the first write,
		// after the topic is ensured, instead of sharing kafka-go's default
		// transport, whose cached metadata may predate the topic.
		Transport: sec.Transport(10 * time.Second),
	}
	go e.pump()
	return e, nil
}

// Emit validates the event, applies its defaults and queues it. It never
// blocks unless BlockTimeout is set; a full queue drops the event and
// returns ErrQueueFull.
func (e *Emitter) Emit(ctx context.Context, ev *schemas.Event) error {
	key, value, err := Encode(ev)
	if err != nil {
		e.rejected.Add(1)
		return err
	}
	return e.enqueue(ctx, kafka.Message{Key: key, Value: value})
}

// Encode validates the event, applies its defaults and returns the key and
// value Emit sends for it.
func Encode(ev *schemas.Event) (key, value []byte, err error) {
	if err := ev.Validate(); err != nil {
		return nil, nil, err
	}
	return []byte(ev.Key()), schemas.AppendJSON(make([]byte, 0, 512), ev), nil
}

// EmitRaw queues an already encoded message as it is, without validation.
// It exists for load generators and fault tests that must put malformed
// messages on the topic; services use Emit.
func (e *Emitter) EmitRaw(ctx context.Context, key, value []byte) error {
	return e.enqueue(ctx, kafka.Message{Key: key, Value: value})
}

func (e *Emitter) enqueue(ctx context.Context, msg kafka.Message) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return ErrClosed
	}
	select {
	case e.queue <- msg:
		e.emitted.Add(1)
		return nil
	default:
	}
	if e.cfg.BlockTimeout > 0 {
		t := time.NewTimer(e.cfg.BlockTimeout)
		defer t.Stop()
		select {
		case e.queue <- msg:
			e.emitted.Add(1)
			return nil
		case <-ctx.Done():
		case <-t.C:
		}
	}
	e.dropped.Add(1)
	return ErrQueueFull
}

// pump moves queued events to the writer in batches, ensuring the topic
// first and bounding the events in flight.
func (e *Emitter) pump() {
	defer close(e.done)
	e.ensureTopic()
	batch := make([]kafka.Message, 0, e.cfg.BatchSize)
	sizer := newBatchSizer(e.cfg.BatchSize, e.writer.BatchTimeout)
	for {
		var msg kafka.Message
		var ok bool
		select {
		case msg, ok = <-e.queue:
		case <-e.stop:
			return
		}
		if !ok {
			return
		}
		batch = append(batch[:0], msg)
	fill:
		for len(batch) < e.cfg.BatchSize {
			select {
			case m, more := <-e.queue:
				if !more {
					break fill
				}
				batch = append(batch, m)
			default:
				break fill
			}
		}
		for range batch {
			select {
			case e.inFlight <- struct{}{}:
			case <-e.stop:
				return
			}
		}
		// kafka-go asks that a Writer's configuration not change after
		// its first use. v0.4.51 reads BatchSize only within
		// WriteMessages, which only this goroutine calls, and in
		// Writer.Stats, which must never be called on this writer; a
		// test holds kafka-go at the version so checked.
		e.writer.BatchSize = sizer.next(time.Now(), len(batch))
		// Async: returns at once; complete() reports each message's fate.
		if err := e.writer.WriteMessages(context.Background(), batch...); err != nil {
			e.failBatch(len(batch), err) // refused outright: no completion follows
			for range batch {
				<-e.inFlight
			}
		}
		// The async writer copies each message into its own batch and keeps
		// nothing of the slice: it is reused, cleared so that it holds no
		// event bytes past their send.
		clear(batch)
	}
}

// batchSizer picks the writer's batch size for each write from the events
// written lately. kafka-go gives every partition's new batch room for that
// many messages (a Message is about 150 bytes), and at BatchSize 5,000 an
// event sent alone paid about 0.8 MB for it. The size is twice the most
// events written in one BatchTimeout window, the current one or the one
// before, as a power of two from minBatchSize up to BatchSize: a
// partition's batch, which is sent BatchTimeout after its first event,
// holds at most the events of one window, so at a steady rate no batch is
// sent for being full before its time, and a burst raises the size at its
// first write (the events the pump takes at once count before the write).
// A batch that outgrows its room grows as any slice does.
type batchSizer struct {
	max       int
	window    time.Duration
	start     time.Time // of the current window
	prev, cur int       // events written in the window before and in this one
}

// minBatchSize is the smallest batch size used: room for 16 messages.
const minBatchSize = 16

func newBatchSizer(limit int, window time.Duration) *batchSizer {
	if window <= 0 {
		window = time.Second // kafka-go's default BatchTimeout
	}
	return &batchSizer{max: limit, window: window}
}

// next counts n events about to be written at now and returns the size.
func (s *batchSizer) next(now time.Time, n int) int {
	if d := now.Sub(s.start); d >= s.window {
		if d < 2*s.window {
			s.prev = s.cur
		} else {
			s.prev = 0
		}
		s.cur, s.start = 0, now
	}
	s.cur += n
	size := minBatchSize
	for size < 2*max(s.prev, s.cur) && size < s.max {
		size *= 2
	}
	return min(size, s.max)
}

func (e *Emitter) ensureTopic() {
	backoff := 100 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err := topics.Ensure(ctx, e.sec, e.cfg.Brokers, e.cfg.Topic, e.cfg.Partitions, e.cfg.ReplicationFactor, topics.EventTopicConfig()...)
		cancel()
		if err == nil {
			return
		}
		e.log.Warn("cannot ensure topic; retrying", zap.String("topic", e.cfg.Topic), zap.Error(err), zap.Duration("backoff", backoff))
		select {
		case <-e.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (e *Emitter) complete(msgs []kafka.Message, err error) {
	if err != nil {
		e.failBatch(len(msgs), err)
	} else {
		e.sent.Add(uint64(len(msgs)))
	}
	for range msgs {
		<-e.inFlight
	}
}

func (e *Emitter) failBatch(n int, err error) {
	e.failed.Add(uint64(n))
	e.log.Error("events not sent after retries", zap.Int("events", n), zap.Error(err))
}

// Stats returns the counters.
func (e *Emitter) Stats() Stats {
	return Stats{Emitted: e.emitted.Load(), Rejected: e.rejected.Load(), Dropped: e.dropped.Load(), Sent: e.sent.Load(), Failed: e.failed.Load()}
}

// Close stops accepting events and sends what is queued, within the
// context's deadline. It reports events that were dropped, failed or could
// not be confirmed sent. Calling it twice is safe.
func (e *Emitter) Close(ctx context.Context) error {
	e.mu.Lock()
	already := e.closed
	if !already {
		e.closed = true
		close(e.queue)
	}
	e.mu.Unlock()

	flushed := make(chan struct{})
	go func() {
		<-e.done
		_ = e.writer.Close() // flushes and waits for every completion
		close(flushed)
	}()
	select {
	case <-flushed:
	case <-ctx.Done():
		if !already {
			close(e.stop)
		}
		s := e.Stats()
		return fmt.Errorf("emit close: %w: %d of %d events not confirmed sent", ctx.Err(), s.Emitted-s.Sent-s.Failed, s.Emitted)
	}
	s := e.Stats()
	if s.Failed > 0 || s.Dropped > 0 {
		return fmt.Errorf("emit close: %d events failed and %d were dropped (queue full) of %d", s.Failed, s.Dropped, s.Emitted+s.Dropped)
	}
	return nil
}
