// Package progress tells when the aggregator has made a topic's messages
// durable in ClickHouse: it compares the partitions' end offsets with the
// checkpoints the aggregator writes after its rollup rows.
package progress

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/jevonsdev/jevons/internal/topics"
	"github.com/jevonsdev/jevons/secure"
)

// EndOffsets returns each partition's end offset (the next offset to be
// written).
func EndOffsets(ctx context.Context, sec *secure.Kafka, brokers []string, topic string) (map[int]int64, error) {
	client, done := topics.NewClient(sec, brokers)
	defer done()
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata %s: %w", topic, err)
	}
	var req []kafka.OffsetRequest
	for _, t := range md.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("metadata %s: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			req = append(req, kafka.LastOffsetOf(p.ID))
		}
	}
	if len(req) == 0 {
		return nil, fmt.Errorf("topic %s not found", topic)
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: req}})
	if err != nil {
		return nil, fmt.Errorf("list offsets %s: %w", topic, err)
	}
	out := map[int]int64{}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets %s/%d: %w", topic, po.Partition, po.Error)
		}
		out[po.Partition] = po.LastOffset
	}
	return out, nil
}

// Flushed returns each partition's flushed_through for a group and topic.
func Flushed(ctx context.Context, conn driver.Conn, db, group, topic string) (map[int]int64, error) {
	rows, err := conn.Query(ctx, "SELECT partition, max(flushed_through) FROM "+db+".consumer_checkpoints FINAL WHERE consumer_group = ? AND topic = ? GROUP BY partition", group, topic)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int]int64{}
	for rows.Next() {
		var p uint32
		var f int64
		if err := rows.Scan(&p, &f); err != nil {
			return nil, err
		}
		out[int(p)] = f
	}
	return out, rows.Err()
}

// WaitCaughtUp polls until every partition with messages is flushed through
// its end offset.
func WaitCaughtUp(ctx context.Context, conn driver.Conn, db, group, topic string, ends map[int]int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		flushed, err := Flushed(ctx, conn, db, group, topic)
		last = err
		if err == nil {
			done := true
			for p, end := range ends {
				if end > 0 && flushed[p] < end {
					done = false
					last = fmt.Errorf("partition %d flushed through %d of %d", p, flushed[p], end)
					break
				}
			}
			if done {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("not caught up after %v: %v", timeout, last)
}
