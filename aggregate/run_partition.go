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
	defer p.release()

	start, err := a.restore(gctx, p, as, log)
	if err != nil {
		log.Warn("partition released before it started", zap.Error(err))
		return
	}
	fetchCtx, stopFetch := context.WithCancel(gctx)
	msgs := make(chan *fetched, 8)
	spent := make(chan *fetched, cap(msgs)+1) // batches handed back for reuse
	f := &fetcher{dialer: a.sec.Dialer(10 * time.Second), brokers: a.cfg.Brokers, topic: a.cfg.Topic, partition: as.ID,
		maxBytes: 16 << 20, maxWait: 250 * time.Millisecond, log: log}
	fetchDone := make(chan struct{})
	go func() { defer close(fetchDone); f.run(fetchCtx, start, msgs, spent) }()
	defer func() { stopFetch(); <-fetchDone }()

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var pub published
	fc := flushClock{lastMsg: time.Now()}

	// One flush at a time is in flight; processing goes on meanwhile. A
	// flush is never abandoned while the partition is kept: a second one
	// must not claim a checkpoint over states the first may not have written.
	// Its context ends only when this function returns.
	flushCtx, cancelFlush := context.WithCancel(context.Background())
	defer cancelFlush()
	var cur *flight
	begin := func(ctx context.Context) {
		if cur != nil || p.pending() == 0 || !p.active || p.next < p.flushedThrough {
			return
		}
		if err := retry(ctx, log, "load late windows", func(ctx context.Context) error { return p.resolveCold(ctx, a.store) }); err != nil {
			return
		}
		b, err := p.snapshot()
		if err != nil {
			log.Error("snapshot", zap.Error(err))
			return
		}
		f := &flight{b: b, done: make(chan error, 1), start: time.Now(), dirtySince: fc.dirtySince}
		fc.dirtySince = time.Time{}
		cur = f
		go func() { f.done <- a.persist(flushCtx, b, log) }()
	}
	complete := func(err error) {
		f := cur
		cur = nil
		if err != nil {
			p.unflushed(f.b)
			if fc.dirtySince.IsZero() || f.dirtySince.Before(fc.dirtySince) {
				fc.dirtySince = f.dirtySince
			}
			log.Warn("flush not made durable; its states stay dirty", zap.Error(err))
			return
		}
		p.flushed(f.b)
		fc.lastFlush = time.Since(f.start)
		a.m.flushes.Inc()
		a.m.flushTime.Observe(time.Since(f.start).Seconds())
		// The ClickHouse checkpoint is authoritative; the Kafka commit only
		// shows progress to Kafka tooling, so its failure is not an error.
		if err := gen.CommitOffsets(map[string]map[int]int64{a.cfg.Topic: {int(p.id): f.b.checkpoint.ReplayFrom}}); err != nil {
			log.Debug("commit offset", zap.Error(err))
		}
	}
	// wait waits for the flight in flight, if any; false if ctx ended first.
	wait := func(ctx context.Context) bool {
		if cur == nil {
			return true
		}
		select {
		case err := <-cur.done:
			complete(err)
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		select {
		case <-gctx.Done():
			stopFetch()
			sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
			if wait(sctx) {
				begin(sctx)
				wait(sctx)
			}
			cancel()
			a.m.publish(p, &pub)
			log.Info("partition released", zap.Int64("flushed_through", p.flushedThrough))
			return
		case err := <-cur.doneChan():
			complete(err)
		case fb := <-msgs:
			batch := fb.msgs
			for i := range batch {
				if gctx.Err() != nil {
					break // the generation ended; the select sees it
				}
				m := &batch[i]
				if !p.active && !p.replaying(m.Offset) {
					if err := retry(gctx, log, "load open windows", func(ctx context.Context) error { return p.activate(ctx, a.store, time.Now()) }); err != nil {
						break
					}
					a.reportCatalogChange(p, log)
				}
				p.process(m)
				if p.pressure() >= a.cfg.MaxDirty && wait(gctx) { // backpressure
					begin(gctx)
				}
			}
			if n := len(batch); n > 0 {
				m := &batch[n-1]
				fc.lastMsg, fc.caughtUp = time.Now(), m.Offset+1 >= m.HighWaterMark
				if fc.dirtySince.IsZero() && p.pending() > 0 {
					fc.dirtySince = fc.lastMsg
				}
				a.m.lag.WithLabelValues(strconv.Itoa(int(id))).Set(float64(m.HighWaterMark - m.Offset - 1))
			}
			recycle(spent, fb)
		case now := <-tick.C:
			a.m.publish(p, &pub)
			fc.caughtUp = fc.caughtUp && len(msgs) == 0
			if shouldFlush(&a.cfg, now, &fc, p.pending()) {
				begin(gctx)
			}
		}
	}
}

// flight is a flush being made durable.
type flight struct {
	b          *flushBatch
	done       chan error
	start      time.Time
	dirtySince time.Time // of the changes it writes
}

// doneChan is nil (blocking forever in a select) when nothing is in flight.
func (f *flight) doneChan() <-chan error {
	if f == nil {
		return nil
	}
	return f.done
}

// flushClock is what the flush schedule knows of a partition, in wall time.
type flushClock struct {
	dirtySince time.Time     // when the oldest change not yet in a flush was made; zero: none
	lastMsg    time.Time     // when the last message arrived
	lastFlush  time.Duration // how long the last flush took to become durable
	caughtUp   bool          // the last message fetched was the newest in the partition
}

// shouldFlush decides, at wall time now, whether a partition with pending
// changes flushes. The interval adapts to the freshness target: a flush
// begins once the oldest unflushed change has waited MaxStaleness less the
// last flush's duration (so it is in ClickHouse within MaxStaleness), but
// never sooner than minFlushGap after that change, so a caught-up partition
// does not rewrite its hot states on every trickle of events. A partition
// that has caught up and then heard nothing for minFlushGap flushes at once:
// the stream paused, and no state will be rewritten for nothing. FlushInterval,
// when set, flushes at least that often; IdleFlush after a quiet spell.
func shouldFlush(cfg *Config, now time.Time, c *flushClock, pending int) bool {
	if pending == 0 || c.dirtySince.IsZero() {
		return false
	}
	wait := max(cfg.MaxStaleness-c.lastFlush, minFlushGap)
	if cfg.FlushInterval > 0 {
		wait = min(wait, cfg.FlushInterval)
	}
	quiet := now.Sub(c.lastMsg)
	return now.Sub(c.dirtySince) >= wait || quiet >= cfg.IdleFlush || (c.caughtUp && quiet >= minFlushGap)
}

// minFlushGap bounds how often a partition flushes when its flushes are
// slow: each flush rewrites the states it touched.
const minFlushGap = 500 * time.Millisecond

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
		default:
			return a.noCheckpoint(ctx, p, as, &start, log)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	a.checkRetention(ctx, p, start, log)
	err = retry(ctx, log, "read dead-letter tail", func(ctx context.Context) error {
		n, err := a.dlqThrough(ctx, int(p.id))
		p.dlqThrough = n
		return err
	})
	// The previous owner may still be making its last flush durable: it
	// flushes on losing the partition, and a broker or ClickHouse outage
	// can stretch that past the rebalance, so its dead letters can land
	// after the read above. The first write reads the DLQ back again.
	p.dlqRecheck = true
	return start, err
}

// reportCatalogChange says loudly that a partition's costs are priced with
// another catalog from an offset on: a rolling deploy of a new catalog, or
// replicas that disagree (README "Price catalogs").
func (a *Aggregator) reportCatalogChange(p *partition, log *zap.Logger) {
	c := p.catalogChange
	if c == nil {
		return
	}
	p.catalogChange = nil
	if c.Previous == "" {
		log.Info("the partition's checkpoint records no price catalog (written before catalogs were recorded); recording this one",
			zap.String("catalog", c.Current), zap.Int64("from_offset", c.From))
		return
	}
	a.m.catalogChanges.Inc()
	log.Error("the partition's costs were priced with another price catalog: events from the offset below on are priced with this one, "+
		"events before it keep the previous catalog's costs in the stored states (no restatement; to restate, recount into a new database with --reset-from=earliest)",
		zap.String("previous_catalog", c.Previous), zap.String("catalog", c.Current), zap.Int64("from_offset", c.From))
}

// errNoCheckpoint stops the aggregator: a partition without a checkpoint
// that has been consumed before cannot be continued exactly.
var errNoCheckpoint = errors.New("no checkpoint")

// noCheckpoint positions a partition that has no checkpoint in ClickHouse.
// A first start (no committed offset, no other group's checkpoint) starts
// from the first offset: states stored by a first flush that died before
// its checkpoint hold their versions, so this is exact. Otherwise the
// database or the group is not the one that consumed the partition: the
// committed Kafka offset is only where replay started, so continuing from
// it would count some duplicates twice, and another group's states would be
// added to. The aggregator refuses unless --reset-from says what to do.
func (a *Aggregator) noCheckpoint(ctx context.Context, p *partition, as kafka.PartitionAssignment, start *int64, log *zap.Logger) error {
	stored, err := a.store.OtherCheckpoints(ctx, a.cfg.Group, a.cfg.Topic, p.id)
	if err != nil {
		return err
	}
	fresh := as.Offset < 0 && !stored
	switch {
	case fresh || a.cfg.ResetFrom == ResetEarliest:
		p.startFresh(0)
		*start = kafka.FirstOffset
		log.Info("partition assigned with no checkpoint; starting from the first offset")
	case a.cfg.ResetFrom == ResetCommitted && as.Offset >= 0:
		p.startFresh(as.Offset)
		p.flushedThrough = as.Offset
		*start = as.Offset
		log.Warn("no checkpoint; starting from the committed Kafka offset as told (duplicates of earlier events may count twice)", zap.Int64("offset", as.Offset))
	default:
		err := fmt.Errorf("%w for group %q, topic %q, partition %d in database %q, but the partition was consumed before "+
			"(committed Kafka offset %d, checkpoints of another group %v): the database or group is not the one that consumed it; "+
			"start with --reset-from=earliest to recount the partition from its first offset, or --reset-from=committed to continue inexactly",
			errNoCheckpoint, a.cfg.Group, a.cfg.Topic, p.id, a.cfg.ClickHouse.Database, as.Offset, stored)
		log.Error("refusing to start the partition", zap.Error(err))
		a.fail(err)
		return err // retried until the aggregator stops, which fail has begun
	}
	return nil
}

// persist makes a snapshot durable: dead letters first, then rollup rows
// and the checkpoint in ClickHouse.
func (a *Aggregator) persist(ctx context.Context, b *flushBatch, log *zap.Logger) error {
	if len(b.dlq) > 0 && !b.dlqWritten {
		msgs := make([]kafka.Message, len(b.dlq))
		for i := range b.dlq {
			msgs[i] = dlqMessage(a.cfg.Topic, &b.dlq[i])
		}
		if err := a.writeDeadLetters(ctx, int(b.checkpoint.Partition), msgs, b.dlqRecheck, log); err != nil {
			return err
		}
		b.dlqWritten = true
	}
	return a.store.Write(ctx, &sink.Batch{Usage: b.usage[:], Tasks: b.tasks, Checkpoints: []schemas.Checkpoint{b.checkpoint}})
}

var errNoLeader = errors.New("no reachable leader")

// dlqThrough returns the highest source offset of this partition already
// in the dead-letter topic, or -1. A partition's dead letters land in
// offset order, so the last one found reading back from the end is the
// highest; the read goes back in windows until it finds one (a DLQ
// partition shared after input partitions were added can hold many of a
// neighbour's after ours), at most dlqScanLimit messages.
func (a *Aggregator) dlqThrough(ctx context.Context, src int) (int64, error) {
	n, err := topics.Partitions(ctx, a.sec, a.cfg.Brokers, a.cfg.DLQTopic)
	if err != nil {
		return -1, err
	}
	dp := src % n
	var conn *kafka.Conn
	dialer := a.sec.Dialer(10 * time.Second)
	for _, b := range a.cfg.Brokers {
		if conn, err = dialer.DialLeader(ctx, "tcp", b, a.cfg.DLQTopic, dp); err == nil {
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
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: a.cfg.Brokers, Topic: a.cfg.DLQTopic, Partition: dp, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond,
		Dialer: dialer})
	defer r.Close()
	for end := last; end > first && last-end < dlqScanLimit; {
		from := max(first, end-dlqWindow)
		if err := r.SetOffset(from); err != nil {
			return -1, err
		}
		through := int64(-1)
		for off := from; off < end; {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				return -1, fmt.Errorf("read dead letters: %w", err)
			}
			off = m.Offset + 1
			var srcTopic string
			srcPart := -1
			for _, h := range m.Headers {
				switch h.Key {
				case "jevons-src-topic":
					srcTopic = string(h.Value)
				case "jevons-src-partition":
					srcPart, _ = strconv.Atoi(string(h.Value))
				}
			}
			if srcTopic == a.cfg.Topic && srcPart == src && m.Offset < end {
				through = max(through, srcOffset(&m))
			}
		}
		if through >= 0 {
			return through, nil
		}
		end = from
	}
	return -1, nil
}

const (
	dlqWindow    = 10_000
	dlqScanLimit = 1_000_000
)
