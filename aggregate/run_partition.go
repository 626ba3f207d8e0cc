package aggregate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/internal/topics"
	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/sink"
)

// runPartition owns one partition for one generation: restore, replay,
// aggregate, flush on schedule, and flush before letting go.
func (a *Aggregator) runPartition(gctx context.Context, gen *kafka.Generation, as kafka.PartitionAssignment) {
	id := uint32(as.ID)
	log := a.log.With(zap.Int("partition", as.ID))
	p := newPartition(id, &a.cfg, a.cat)
	defer a.m.forget(id)

	start, err := a.restore(gctx, p, as, log)
	if err != nil {
		log.Warn("partition released before it started", zap.Error(err))
		return
	}
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers: a.cfg.Brokers, Topic: a.cfg.Topic, Partition: as.ID,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 250 * time.Millisecond, QueueCapacity: 1000,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) { log.Warn(fmt.Sprintf(msg, args...)) }),
	})
	defer reader.Close()
	if err := reader.SetOffset(start); err != nil {
		log.Error("seek", zap.Error(err))
		return
	}
	fetchCtx, stopFetch := context.WithCancel(gctx)
	defer stopFetch()
	msgs := make(chan kafka.Message, 4096)
	go fetch(fetchCtx, reader, msgs, log)

	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var pub [numOutcomes]int64
	lastFlush, lastMsg := time.Now(), time.Now()
	flush := func(ctx context.Context) bool {
		if err := a.flush(ctx, gen, p, log); err != nil {
			log.Warn("flush failed; partition released without it", zap.Error(err))
			return false
		}
		lastFlush = time.Now()
		return true
	}
	for {
		select {
		case <-gctx.Done():
			stopFetch()
			sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
			flush(sctx)
			cancel()
			a.m.publish(p, &pub)
			log.Info("partition released", zap.Int64("flushed_through", p.flushedThrough))
			return
		case m := <-msgs:
			if !p.active && !p.replaying(m.Offset) {
				if err := retry(gctx, log, "load open windows", func(ctx context.Context) error { return p.activate(ctx, a.store) }); err != nil {
					continue // generation ended; the select sees it
				}
			}
			p.process(&m)
			lastMsg = time.Now()
			if m.Offset&1023 == 0 {
				a.m.lag.WithLabelValues(strconv.Itoa(int(id))).Set(float64(m.HighWaterMark - m.Offset - 1))
			}
			if p.pending() >= a.cfg.MaxDirty {
				flush(gctx)
			}
		case now := <-tick.C:
			a.m.publish(p, &pub)
			if p.pending() > 0 && (now.Sub(lastFlush) >= a.cfg.FlushInterval || now.Sub(lastMsg) >= a.cfg.IdleFlush) {
				flush(gctx)
			}
		}
	}
}

func fetch(ctx context.Context, r *kafka.Reader, out chan<- kafka.Message, log *zap.Logger) {
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("fetch failed; retrying", zap.Error(err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		select {
		case out <- m:
		case <-ctx.Done():
			return
		}
	}
}

// restore reads the partition's checkpoint and dead-letter tail and returns
// the offset to fetch from.
func (a *Aggregator) restore(ctx context.Context, p *partition, as kafka.PartitionAssignment, log *zap.Logger) (int64, error) {
	var start int64
	err := retry(ctx, log, "load checkpoint", func(ctx context.Context) error {
		c, ok, err := a.store.LoadCheckpoint(ctx, a.cfg.Group, a.cfg.Topic, p.id)
		switch {
		case err != nil:
			return err
		case ok:
			p.restore(c)
			start = c.ReplayFrom
			log.Info("partition assigned", zap.Int64("replay_from", c.ReplayFrom), zap.Int64("flushed_through", c.FlushedThrough))
		case as.Offset >= 0:
			p.startFresh(as.Offset)
			p.flushedThrough = as.Offset
			start = as.Offset
			log.Warn("no checkpoint in ClickHouse; starting from the committed Kafka offset", zap.Int64("offset", as.Offset))
		default:
			p.startFresh(0)
			start = kafka.FirstOffset
			log.Info("partition assigned with no checkpoint; starting from the first offset")
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	err = retry(ctx, log, "read dead-letter tail", func(ctx context.Context) error {
		n, err := a.dlqThrough(ctx, int(p.id))
		p.dlqThrough = n
		return err
	})
	return start, err
}

// flush makes the partition's dirty states durable: dead letters first,
// then rollup rows and the checkpoint in ClickHouse, then the Kafka commit.
func (a *Aggregator) flush(ctx context.Context, gen *kafka.Generation, p *partition, log *zap.Logger) error {
	if p.pending() == 0 || !p.active || p.next < p.flushedThrough {
		return nil
	}
	start := time.Now()
	if err := retry(ctx, log, "load late windows", func(ctx context.Context) error { return p.resolveCold(ctx, a.store) }); err != nil {
		return err
	}
	b, err := p.snapshot()
	if err != nil {
		return err
	}
	if len(b.dlq) > 0 {
		msgs := make([]kafka.Message, len(b.dlq))
		for i := range b.dlq {
			d := &b.dlq[i]
			msgs[i] = kafka.Message{Key: d.msg.Key, Value: d.msg.Value, Headers: dlqHeaders(a.cfg.Topic, d)}
		}
		if err := retry(ctx, log, "write dead letters", func(ctx context.Context) error { return a.dlq.WriteMessages(ctx, msgs...) }); err != nil {
			return err
		}
	}
	if err := a.store.Write(ctx, &sink.Batch{Usage: b.usage, Tasks: b.tasks, Checkpoints: []schemas.Checkpoint{b.checkpoint}}); err != nil {
		return err
	}
	p.flushed(b)
	a.m.flushes.Inc()
	a.m.flushTime.Observe(time.Since(start).Seconds())
	// The ClickHouse checkpoint is authoritative; the Kafka commit only
	// shows progress to Kafka tooling, so its failure is not an error.
	if err := gen.CommitOffsets(map[string]map[int]int64{a.cfg.Topic: {int(p.id): b.checkpoint.ReplayFrom}}); err != nil {
		log.Debug("commit offset", zap.Error(err))
	}
	return nil
}

var errNoLeader = errors.New("no reachable leader")

// dlqThrough returns the highest source offset of this partition already
// in the dead-letter topic, or -1.
func (a *Aggregator) dlqThrough(ctx context.Context, src int) (int64, error) {
	n, err := topics.Partitions(ctx, kafka.TCP(a.cfg.Brokers...), a.cfg.DLQTopic)
	if err != nil {
		return -1, err
	}
	dp := src % n
	var conn *kafka.Conn
	for _, b := range a.cfg.Brokers {
		if conn, err = kafka.DialLeader(ctx, "tcp", b, a.cfg.DLQTopic, dp); err == nil {
			break
		}
	}
	if conn == nil {
		return -1, errors.Join(errNoLeader, err)
	}
	first, last, err := conn.ReadOffsets()
	conn.Close()
	if err != nil || last <= first {
		return -1, err
	}
	from := max(first, last-10_000)
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: a.cfg.Brokers, Topic: a.cfg.DLQTopic, Partition: dp, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(from); err != nil {
		return -1, err
	}
	through := int64(-1)
	for off := from; off < last; {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return -1, fmt.Errorf("read dead letters: %w", err)
		}
		off = m.Offset + 1
		var srcTopic string
		srcPart, srcOff := -1, int64(-1)
		for _, h := range m.Headers {
			switch h.Key {
			case "jevons-src-topic":
				srcTopic = string(h.Value)
			case "jevons-src-partition":
				srcPart, _ = strconv.Atoi(string(h.Value))
			case "jevons-src-offset":
				srcOff, _ = strconv.ParseInt(string(h.Value), 10, 64)
			}
		}
		if srcTopic == a.cfg.Topic && srcPart == src {
			through = max(through, srcOff)
		}
	}
	return through, nil
}
