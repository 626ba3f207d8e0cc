package aggregate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// Dead letters: the DLQ holds each bad message once per (source partition,
// offset). A partition's dead letters go to one DLQ partition in offset
// order, in chunks that are each one produce request (so one chunk lands
// whole or not at all, and chunks land in order); after a failed or
// uncertain write the owner reads back the highest source offset that
// landed and sends only what is above it. So does a new owner before its
// first write: the previous owner's last flush may still be landing.

// Sizes of a dead letter. A broker refuses a record batch above the
// topic's max.message.bytes (1 MiB by default), so a larger message is
// truncated with headers saying so, rather than retried forever.
const (
	maxDeadLetterBytes = 512 << 10 // key + value + headers of one dead letter
	truncatedValue     = 64 << 10  // what a truncated dead letter keeps of the value
	maxChunkBytes      = 900 << 10 // dead letters per produce request
	maxChunkMessages   = 100       // kafka-go's default batch size
)

// dlqMessage builds the dead letter of d for the DLQ topic: the original
// key, value and headers plus the reason and the source coordinates. A
// message too large for one record batch keeps its first bytes, and carries
// jevons-truncated, jevons-original-bytes and jevons-original-sha256.
func dlqMessage(topic string, d *deadLetter) kafka.Message {
	m := kafka.Message{Key: d.msg.Key, Value: d.msg.Value, Headers: dlqHeaders(topic, d)}
	if size(&m) <= maxDeadLetterBytes {
		return m
	}
	sum := sha256.Sum256(d.msg.Value)
	m.Headers = append(m.Headers[len(d.msg.Headers):],
		kafka.Header{Key: "jevons-truncated", Value: []byte("true")},
		kafka.Header{Key: "jevons-original-bytes", Value: []byte(strconv.Itoa(len(d.msg.Value)))},
		kafka.Header{Key: "jevons-original-sha256", Value: []byte(hex.EncodeToString(sum[:]))},
	) // the original's headers go too: they may be what is large
	if len(m.Key) > truncatedValue {
		m.Key = m.Key[:truncatedValue]
	}
	m.Value = m.Value[:min(len(m.Value), truncatedValue)]
	return m
}

func size(m *kafka.Message) int {
	n := len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// dlqWriteTimeout bounds one dead-letter write; it outlasts a broker's
// replica.lag.time.max.ms (30 s by default), the longest an acks=all write
// waits for a frozen follower before the leader drops it from the ISR.
const dlqWriteTimeout = 45 * time.Second

// srcOffset reads a dead letter's source offset header.
func srcOffset(m *kafka.Message) int64 {
	for _, h := range m.Headers {
		if h.Key == "jevons-src-offset" {
			if n, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
				return n
			}
		}
	}
	return -1
}

// writeDeadLetters makes msgs (one source partition's dead letters, in
// offset order) durable in the DLQ exactly once. recheck says an earlier
// write may have landed in part: the DLQ is read back first.
func (a *Aggregator) writeDeadLetters(ctx context.Context, src int, msgs []kafka.Message, recheck bool, log *zap.Logger) error {
	return retry(ctx, log, "write dead letters", func(ctx context.Context) error {
		if recheck {
			through, err := a.dlqThrough(ctx, src)
			if err != nil {
				return err
			}
			for len(msgs) > 0 && srcOffset(&msgs[0]) <= through {
				msgs = msgs[1:]
			}
		}
		for len(msgs) > 0 {
			n, bytes := 0, 0
			for n < len(msgs) && n < maxChunkMessages && (n == 0 || bytes+size(&msgs[n]) <= maxChunkBytes) {
				bytes += size(&msgs[n])
				n++
			}
			wctx, cancel := context.WithTimeout(ctx, dlqWriteTimeout+15*time.Second)
			err := a.dlq.WriteMessages(wctx, msgs[:n]...)
			cancel()
			if err != nil {
				recheck = true // the chunk may have landed although the answer did not
				var tooLarge kafka.MessageTooLargeError
				if errors.As(err, &tooLarge) {
					return fmt.Errorf("dead letter too large for the DLQ writer: %w", err)
				}
				return err
			}
			msgs = msgs[n:]
		}
		return nil
	})
}
