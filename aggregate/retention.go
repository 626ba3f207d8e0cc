package aggregate

import (
	"context"
	"errors"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// retentionGap says what of a partition's restart range retention has
// deleted, given the partition's first offset: replay messages (only the
// duplicate set is rebuilt from them: retries of those events can count
// twice) and events never counted (at or above flushed_through).
func retentionGap(first, replayFrom, flushedThrough int64) (replayLost, eventsLost int64) {
	if replayFrom < 0 || first <= replayFrom {
		return 0, 0
	}
	replayLost = min(first, flushedThrough) - replayFrom
	if first > flushedThrough {
		eventsLost = first - max(flushedThrough, replayFrom)
	}
	return max(replayLost, 0), eventsLost
}

// checkRetention reports, loudly, messages a partition's restart needs
// that retention deleted before they were consumed: the reader would skip
// to the first offset without a word.
func (a *Aggregator) checkRetention(ctx context.Context, p *partition, start int64, log *zap.Logger) {
	first, err := a.firstOffset(ctx, int(p.id))
	if err != nil {
		log.Warn("could not read the partition's first offset; a restart range deleted by retention would go unreported", zap.Error(err))
		return
	}
	replayLost, eventsLost := retentionGap(first, start, p.flushedThrough)
	if eventsLost > 0 {
		a.m.retentionLost.WithLabelValues("uncounted").Add(float64(eventsLost))
		log.Error("retention deleted messages that were never counted: the totals miss them",
			zap.Int64("flushed_through", p.flushedThrough), zap.Int64("first_offset", first), zap.Int64("messages", eventsLost))
	}
	if replayLost > 0 {
		a.m.retentionLost.WithLabelValues("replay").Add(float64(replayLost))
		log.Warn("retention deleted part of the replay that rebuilds the duplicate set: a retry of one of those events counts twice",
			zap.Int64("replay_from", start), zap.Int64("first_offset", first), zap.Int64("messages", replayLost))
	}
}

func (a *Aggregator) firstOffset(ctx context.Context, partition int) (int64, error) {
	var err error
	for _, b := range a.cfg.Brokers {
		var conn *kafka.Conn
		if conn, err = kafka.DialLeader(ctx, "tcp", b, a.cfg.Topic, partition); err == nil {
			defer conn.Close()
			return conn.ReadFirstOffset()
		}
	}
	return -1, errors.Join(errNoLeader, err)
}
