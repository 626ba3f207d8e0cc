package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/ingest/emit"
	"github.com/jevonsdev/jevons/internal/topics"
	"github.com/jevonsdev/jevons/secure"
)

// Producer is the stage after the gateway: Produce returns nil only once
// every message is acknowledged by Kafka.
type Producer interface {
	Produce(ctx context.Context, msgs []kafka.Message) error
}

// ProducerFunc adapts a function to Producer.
type ProducerFunc func(ctx context.Context, msgs []kafka.Message) error

// Produce calls f.
func (f ProducerFunc) Produce(ctx context.Context, msgs []kafka.Message) error { return f(ctx, msgs) }

// KafkaConfig configures the Kafka producer.
type KafkaConfig struct {
	Brokers      []string
	Topic        string
	Partitions   int // when the topic is created because it is missing
	Compression  string
	BatchSize    int                // per partition
	BatchTimeout time.Duration      // how long a partition's batch waits for more messages
	Security     secure.KafkaConfig // SASL/SCRAM and TLS; zero: plaintext
}

// DefaultKafkaConfig returns ingest/emit's conventions. kafka-go writes one
// batch per partition at a time and seals a batch when it is full or its
// timeout passes: a timeout far below the broker's round trip makes many
// tiny batches queue behind each other, one far above it delays single
// events; `jevons bench ingest` measured 10ms and 200 as the balance.
func DefaultKafkaConfig() KafkaConfig {
	return KafkaConfig{Brokers: []string{"127.0.0.1:9092"}, Topic: emit.DefaultTopic, Partitions: 12,
		Compression: "lz4", BatchSize: 200, BatchTimeout: 10 * time.Millisecond}
}

// Validate reports every problem at once.
func (c KafkaConfig) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 || c.Topic == "" {
		errs = append(errs, errors.New("kafka: brokers and topic are required"))
	}
	if c.Partitions < 1 || c.BatchSize < 1 || c.BatchTimeout <= 0 {
		errs = append(errs, fmt.Errorf("kafka: partitions and batch size must be >= 1 and batch timeout > 0 (got %d, %d, %v)", c.Partitions, c.BatchSize, c.BatchTimeout))
	}
	if _, err := codec(c.Compression); err != nil {
		errs = append(errs, err)
	}
	if err := c.Security.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func codec(name string) (kafka.Compression, error) {
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
	return 0, fmt.Errorf("kafka compression: want none, gzip, snappy, lz4 or zstd, got %q", name)
}

// KafkaProducer produces synchronously: kafka-go's Writer in its blocking
// mode returns from WriteMessages after the partition leaders answered
// with acks=all. Concurrent requests share produce batches.
type KafkaProducer struct {
	cfg KafkaConfig
	sec *secure.Kafka
	log *zap.Logger
	w   *kafka.Writer
}

// NewKafkaProducer returns a producer; it does not contact Kafka.
func NewKafkaProducer(cfg KafkaConfig, log *zap.Logger) (*KafkaProducer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c, _ := codec(cfg.Compression)
	sec, err := cfg.Security.Load()
	if err != nil {
		return nil, err
	}
	tr := sec.Transport(2 * time.Second)
	tr.MetadataTTL = time.Second
	return &KafkaProducer{cfg: cfg, sec: sec, log: log.Named("kafka"), w: &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Topic:        cfg.Topic,
		Balancer:     &kafka.Murmur2Balancer{}, // the Java client's key->partition mapping, as emit
		RequiredAcks: kafka.RequireAll,
		Compression:  c,
		BatchSize:    cfg.BatchSize,
		BatchBytes:   16 << 20,
		BatchTimeout: cfg.BatchTimeout,
		// A few quick attempts, with metadata refreshed every second, ride
		// out a leader change or a topic just created; beyond that the client
		// retries the request (same event ids) after Retry-After.
		MaxAttempts:     4,
		WriteBackoffMin: 100 * time.Millisecond,
		WriteBackoffMax: time.Second,
		Transport:       tr,
	}}, nil
}

// EnsureTopic creates the topic when it is missing, retrying until ctx ends.
func (p *KafkaProducer) EnsureTopic(ctx context.Context) error {
	backoff := 200 * time.Millisecond
	for {
		tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := topics.Ensure(tctx, p.sec, p.cfg.Brokers, p.cfg.Topic, p.cfg.Partitions, -1)
		cancel()
		if err == nil {
			return nil
		}
		p.log.Warn("cannot ensure topic; retrying", zap.String("topic", p.cfg.Topic), zap.Error(err))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// Produce writes msgs and waits for their acknowledgement.
func (p *KafkaProducer) Produce(ctx context.Context, msgs []kafka.Message) error {
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("produce %d messages: %w", len(msgs), err)
	}
	return nil
}

// Close flushes and closes the writer.
func (p *KafkaProducer) Close() error { return p.w.Close() }
