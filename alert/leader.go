package alert

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/internal/topics"
	"github.com/jevonsdev/jevons/secure"
)

// LeaderConfig elects one active `jevons alert` per name among replicas:
// they join one Kafka consumer group on a one-partition topic, and the
// member that is assigned the partition evaluates; the others wait. When
// the leader dies its session times out, the group rebalances and another
// member takes over, restoring the states from ClickHouse.
type LeaderConfig struct {
	Brokers        []string
	Topic          string // default "jevons.alert-leader"
	Group          string // default "jevons-alert-" + the evaluator's name
	SessionTimeout time.Duration
	Security       secure.KafkaConfig // SASL/SCRAM and TLS; zero: plaintext
}

// Lead runs lead(ctx) while this process holds the leadership, until ctx
// ends. lead must return when its context ends.
func Lead(ctx context.Context, cfg LeaderConfig, log *zap.Logger, lead func(ctx context.Context) error) error {
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	sec, err := cfg.Security.Load()
	if err != nil {
		return fmt.Errorf("leader: %w", err)
	}
	if err := topics.Ensure(ctx, sec, cfg.Brokers, cfg.Topic, 1, -1); err != nil {
		return fmt.Errorf("leader topic: %w", err)
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: cfg.Group, Brokers: cfg.Brokers, Topics: []string{cfg.Topic}, SessionTimeout: cfg.SessionTimeout,
		RebalanceTimeout: cfg.SessionTimeout, HeartbeatInterval: cfg.SessionTimeout / 5, JoinGroupBackoff: time.Second,
		Dialer: sec.Dialer(10 * time.Second),
	})
	if err != nil {
		return fmt.Errorf("leader group: %w", err)
	}
	defer group.Close()
	for {
		gen, err := group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Warn("leader election generation failed; retrying", zap.Error(err))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		if len(gen.Assignments[cfg.Topic]) == 0 {
			log.Info("standing by: another replica evaluates", zap.Int32("generation", gen.ID))
			continue
		}
		log.Info("leading: this replica evaluates", zap.Int32("generation", gen.ID))
		done := make(chan error, 1)
		gen.Start(func(gctx context.Context) {
			lctx, cancel := context.WithCancel(gctx)
			defer cancel()
			stop := context.AfterFunc(ctx, cancel)
			defer stop()
			if err := lead(lctx); err != nil {
				log.Warn("evaluation stopped", zap.Error(err))
			}
			done <- nil
		})
		select {
		case <-ctx.Done():
			<-done
			return nil
		case <-done:
		}
	}
}
