package history

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/jevonsdev/jevons/internal/topics"
	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/secure"
)

// Producer writes events synchronously, in batches, with the event time as
// the message timestamp. Emit and EmitRaw make it a loadgen.Sink.
type Producer struct {
	w     *kafka.Writer
	batch []kafka.Message
	size  int
	sent  int64
}

// NewProducer ensures the topic (created with partitions when missing) and
// returns a Producer; sec says how to connect (nil: plaintext).
func NewProducer(ctx context.Context, sec *secure.Kafka, brokers []string, topic string, partitions int) (*Producer, error) {
	if err := topics.Ensure(ctx, sec, brokers, topic, partitions, -1); err != nil {
		return nil, err
	}
	return &Producer{
		w: &kafka.Writer{
			Addr: kafka.TCP(brokers...), Topic: topic,
			Balancer:     &kafka.Murmur2Balancer{}, // the Java client's key->partition mapping, as live events
			RequiredAcks: kafka.RequireAll, Compression: kafka.Lz4,
			BatchSize: 5000, BatchBytes: 16 << 20, BatchTimeout: 10 * time.Millisecond, MaxAttempts: 10,
			Transport: sec.Transport(10 * time.Second),
		},
		size: 5000,
	}, nil
}

// Emit validates the event and queues it with its time as the timestamp.
func (p *Producer) Emit(ctx context.Context, ev *schemas.Event) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	return p.add(ctx, kafka.Message{Key: []byte(ev.Key()), Value: schemas.AppendJSON(make([]byte, 0, 512), ev), Time: ev.Time})
}

// EmitRaw queues an encoded message as it is, stamped now.
func (p *Producer) EmitRaw(ctx context.Context, key, value []byte) error {
	return p.add(ctx, kafka.Message{Key: key, Value: value})
}

func (p *Producer) add(ctx context.Context, m kafka.Message) error {
	p.batch = append(p.batch, m)
	if len(p.batch) >= p.size {
		return p.Flush(ctx)
	}
	return nil
}

// Flush writes the queued messages and waits for all in-sync replicas.
func (p *Producer) Flush(ctx context.Context) error {
	if len(p.batch) == 0 {
		return nil
	}
	if err := p.w.WriteMessages(ctx, p.batch...); err != nil {
		return fmt.Errorf("produce %d events: %w", len(p.batch), err)
	}
	p.sent += int64(len(p.batch))
	p.batch = p.batch[:0]
	return nil
}

// Sent is the number of messages acknowledged.
func (p *Producer) Sent() int64 { return p.sent }

// Close flushes and closes the writer.
func (p *Producer) Close(ctx context.Context) error {
	return errors.Join(p.Flush(ctx), p.w.Close())
}
