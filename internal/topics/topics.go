// Package topics creates Kafka topics that Jevons owns (the event topic when
// a producer starts first, the dead-letter topic) and reads their layout.
package topics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/segmentio/kafka-go"
)

// Ensure creates topic with the given partitions and replication factor if
// it does not exist; an existing topic is left as it is.
func Ensure(ctx context.Context, brokers []string, topic string, partitions, replication int) error {
	if len(brokers) == 0 {
		return errors.New("ensure topic: no brokers")
	}
	client, done := NewClient(kafka.TCP(brokers...))
	defer done()
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: partitions, ReplicationFactor: replication,
	}}})
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	if err := resp.Errors[topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return waitForLeaders(ctx, client.Addr, topic)
}

// NewClient returns a client with a transport of its own: kafka-go's shared
// transport answers metadata requests from a cache that can lag behind a
// topic just created. done closes the transport's connections.
func NewClient(addr net.Addr) (*kafka.Client, func()) {
	tr := &kafka.Transport{DialTimeout: 10 * time.Second}
	return &kafka.Client{Addr: addr, Timeout: 10 * time.Second, Transport: tr}, tr.CloseIdleConnections
}

// waitForLeaders waits until every partition of a new topic has a leader, so
// that the first writes do not fail.
func waitForLeaders(ctx context.Context, addr net.Addr, topic string) error {
	for {
		n, err := Partitions(ctx, addr, topic)
		if err == nil && n > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s has no leaders yet: %w", topic, errors.Join(ctx.Err(), err))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Partitions returns the number of partitions of topic, all with leaders.
func Partitions(ctx context.Context, addr net.Addr, topic string) (int, error) {
	client, done := NewClient(addr)
	defer done()
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("metadata for %s: %w", topic, err)
	}
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return 0, fmt.Errorf("metadata for %s: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			if p.Error != nil || p.Leader.Host == "" {
				return 0, fmt.Errorf("partition %d of %s has no leader", p.ID, topic)
			}
		}
		if len(t.Partitions) == 0 {
			return 0, fmt.Errorf("topic %s has no partitions", topic)
		}
		return len(t.Partitions), nil
	}
	return 0, fmt.Errorf("topic %s not found", topic)
}
