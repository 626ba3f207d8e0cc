// Package topics creates Kafka topics that Jevons owns (the event topic when
// a producer starts first, the dead-letter topic) and reads their layout.
package topics

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/jevonsdev/jevons/secure"
)

// EventTopicConfig is the configuration of a new event topic: producer
// timestamps (kafka-go reads only the producer's timestamp of a record, even
// from a LogAppendTime topic), which the broker rejects when they run more
// than MaxTimestampAhead ahead of its own clock. The aggregator dead-letters
// events dated more than its max-future after their message time, so no
// producer's clock can move event time further ahead than the sum.
func EventTopicConfig() []kafka.ConfigEntry {
	return []kafka.ConfigEntry{
		{ConfigName: "message.timestamp.type", ConfigValue: "CreateTime"},
		{ConfigName: "message.timestamp.after.max.ms", ConfigValue: strconv.FormatInt(MaxTimestampAhead.Milliseconds(), 10)},
	}
}

// MaxTimestampAhead is how far ahead of the broker's clock a producer's
// timestamp may be on an event topic Jevons creates.
const MaxTimestampAhead = 5 * time.Minute

// Ensure creates topic with the given partitions, replication factor and
// topic configuration if it does not exist; an existing topic is left as it
// is. sec says how to connect (nil: plaintext).
func Ensure(ctx context.Context, sec *secure.Kafka, brokers []string, topic string, partitions, replication int, config ...kafka.ConfigEntry) error {
	if len(brokers) == 0 {
		return errors.New("ensure topic: no brokers")
	}
	client, done := NewClient(sec, brokers)
	defer done()
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: partitions, ReplicationFactor: replication, ConfigEntries: config,
	}}})
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, sec.Explain(ctx, brokers, err))
	}
	if err := resp.Errors[topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return waitForLeaders(ctx, sec, brokers, topic)
}

// NewClient returns a client with a transport of its own: kafka-go's shared
// transport answers metadata requests from a cache that can lag behind a
// topic just created. done closes the transport's connections.
func NewClient(sec *secure.Kafka, brokers []string) (*kafka.Client, func()) {
	return sec.Client(brokers, 10*time.Second)
}

// waitForLeaders waits until every partition of a new topic has a leader, so
// that the first writes do not fail.
func waitForLeaders(ctx context.Context, sec *secure.Kafka, brokers []string, topic string) error {
	for {
		n, err := Partitions(ctx, sec, brokers, topic)
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
func Partitions(ctx context.Context, sec *secure.Kafka, brokers []string, topic string) (int, error) {
	client, done := NewClient(sec, brokers)
	defer done()
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("metadata for %s: %w", topic, sec.Explain(ctx, brokers, err))
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

// TimestampBound reports how far ahead of the broker's clock a message
// timestamp that kafka-go reads from topic can be: the topic's
// message.timestamp.after.max.ms when it uses CreateTime (the broker rejects
// producer timestamps further ahead), or a negative duration when nothing
// bounds them. LogAppendTime topics are unbounded for this purpose: the
// broker then ignores the producer's timestamp for its own use but keeps it
// in each record, and kafka-go hands that one to the consumer.
func TimestampBound(ctx context.Context, sec *secure.Kafka, brokers []string, topic string) (time.Duration, string, error) {
	client, done := NewClient(sec, brokers)
	defer done()
	resp, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
		ConfigNames: []string{"message.timestamp.type", "message.timestamp.after.max.ms", "message.timestamp.difference.max.ms"},
	}}})
	if err != nil {
		return 0, "", fmt.Errorf("describe topic %s: %w", topic, sec.Explain(ctx, brokers, err))
	}
	cfg := map[string]string{}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return 0, "", fmt.Errorf("describe topic %s: %w", topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			cfg[e.ConfigName] = e.ConfigValue
		}
	}
	typ := cfg["message.timestamp.type"]
	if typ == "LogAppendTime" {
		return -1, typ, nil
	}
	bound := int64(-1)
	for _, name := range []string{"message.timestamp.after.max.ms", "message.timestamp.difference.max.ms"} {
		if v, err := strconv.ParseInt(cfg[name], 10, 64); err == nil && v >= 0 && v < int64(1<<62)/int64(time.Millisecond) {
			if bound < 0 || v < bound {
				bound = v
			}
		}
	}
	if bound < 0 {
		return -1, typ, nil
	}
	return time.Duration(bound) * time.Millisecond, typ, nil
}
