package aggregate

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/sink"
)

// outcome is what became of one consumed message.
type outcome int

const (
	outAggregated outcome = iota
	outDuplicate
	outLateCorrected
	outDeadLettered
	outReplayed // below the checkpoint, or already inside a stored state
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"aggregated", "duplicate", "late_corrected", "dead_lettered", "replayed"}

// store loads stored states; sink.Store implements it on ClickHouse.
type store interface {
	LoadUsage(ctx context.Context, partition uint32, from int64, windows []int64) ([]schemas.UsageRow, error)
	LoadTasks(ctx context.Context, partition uint32, from int64, keys []sink.TaskKey) ([]schemas.TaskRow, error)
}

// deadLetter is a message bound for the dead-letter topic.
type deadLetter struct {
	msg    kafka.Message
	reason string
}

// partition holds the aggregation state of one source partition. It is
// owned by one goroutine and does no I/O except through store.
type partition struct {
	id        uint32
	cfg       *Config
	cat       *pricing.Catalog
	win, twin int64 // window sizes in ms
	lateness  int64
	horizon   int64

	dec schemas.Decoder
	ev  schemas.Event

	maxTime        int64 // event-time clock: max event time seen (ms)
	next           int64 // next offset to process
	flushedThrough int64 // below: inside stored rows (from the checkpoint)
	dlqThrough     int64 // at or below: already in the dead-letter topic
	active         bool  // stored open windows loaded

	dedup                 *dedupSet
	usage                 map[usageKey]*usageState
	tasks                 map[taskKey]*taskState
	usageFloor, taskFloor int64 // windows >= floor: memory is authoritative
	dirtyUsage            []*usageState
	dirtyTasks            []*taskState
	evicted               map[int64]map[[2]uint64]struct{} // task window -> tasks evicted while it is open
	taskSeed1, taskSeed2  maphash.Seed
	cycle                 int64    // flushes so far
	coldUsage             []priced // late events waiting for their stored state
	coldTasks             []priced
	dlq                   []deadLetter

	counts [numOutcomes]int64

	obs      TaskObservation // reused for cfg.Observer
	obsOwner uint64
}

func newPartition(id uint32, cfg *Config, cat *pricing.Catalog) *partition {
	return &partition{
		id: id, cfg: cfg, cat: cat,
		win: cfg.Window.Milliseconds(), twin: cfg.TaskWindow.Milliseconds(),
		lateness: cfg.AllowedLateness.Milliseconds(), horizon: cfg.DedupHorizon.Milliseconds(),
		maxTime: noTime, dlqThrough: -1, dedup: newDedupSet(), dec: schemas.Decoder{Shared: true},
		usage: map[usageKey]*usageState{}, tasks: map[taskKey]*taskState{},
		usageFloor: noTime, taskFloor: noTime,
		evicted: map[int64]map[[2]uint64]struct{}{}, taskSeed1: maphash.MakeSeed(), taskSeed2: maphash.MakeSeed(),
	}
}

// restore positions the partition after a checkpoint: replay starts at
// ReplayFrom with the clock as it stood there.
func (p *partition) restore(c schemas.Checkpoint) {
	p.next, p.flushedThrough = c.ReplayFrom, c.FlushedThrough
	p.maxTime = c.ReplayMaxTime
}

// startFresh positions a partition that has no checkpoint.
func (p *partition) startFresh(offset int64) {
	p.next, p.flushedThrough = offset, 0
}

// replaying reports whether offset lies below the checkpoint.
func (p *partition) replaying(offset int64) bool { return offset < p.flushedThrough }

// activate loads the stored states of windows that may still change, so
// that memory continues from what is stored rather than from zero.
func (p *partition) activate(ctx context.Context, st store) error {
	p.usageFloor = floorFor(p.maxTime, p.lateness, p.win)
	p.taskFloor = floorFor(p.maxTime, p.lateness, p.twin)
	urows, err := st.LoadUsage(ctx, p.id, p.usageFloor, nil)
	if err != nil {
		return err
	}
	for i := range urows {
		s := usageFromRow(&urows[i])
		p.usage[s.key] = s
	}
	trows, err := st.LoadTasks(ctx, p.id, p.taskFloor, nil)
	if err != nil {
		return err
	}
	for i := range trows {
		s := taskFromRow(&trows[i])
		p.tasks[s.key] = s
	}
	p.active = true
	return nil
}

// The span of ClickHouse DateTime (unsigned 32-bit seconds), with a day's
// margin for window starts and a year's for the reference date.
var (
	minStorable = time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC)
	maxStorable = time.Date(2105, 1, 1, 0, 0, 0, 0, time.UTC)
)

// accept decodes and checks a message; a non-empty reason dead-letters it.
// The checks use only the message itself, so replays decide alike.
func (p *partition) accept(m *kafka.Message) string {
	if err := p.dec.Decode(m.Value, &p.ev); err != nil {
		return err.Error()
	}
	t := p.ev.Time
	if t.Before(minStorable) || !t.Before(maxStorable) {
		return fmt.Sprintf("event time %s is outside the range ClickHouse DateTime stores (1970 to 2105)", t.Format(time.RFC3339))
	}
	if !m.Time.IsZero() {
		if t.After(m.Time.Add(p.cfg.MaxFuture)) {
			return fmt.Sprintf("event time %s is more than %v after the message time %s", t.Format(time.RFC3339), p.cfg.MaxFuture, m.Time.UTC().Format(time.RFC3339))
		}
		if t.Before(m.Time.Add(-p.cfg.CorrectionHorizon)) {
			return fmt.Sprintf("event time %s is older than the correction horizon (%v before the message time)", t.Format(time.RFC3339), p.cfg.CorrectionHorizon)
		}
	}
	return ""
}

// process consumes one message and returns its outcome.
func (p *partition) process(m *kafka.Message) outcome {
	o := m.Offset
	p.next = o + 1
	if o < p.flushedThrough {
		if p.accept(m) == "" {
			p.maxTime = max(p.maxTime, p.ev.Time.UnixMilli())
			p.dedup.admit(p.ev.Tenant, p.ev.EventID, p.maxTime, p.horizon, o)
		}
		return p.count(outReplayed)
	}
	if reason := p.accept(m); reason != "" {
		return p.deadLetter(m, reason)
	}
	ev := &p.ev
	t := ev.Time.UnixMilli()
	p.maxTime = max(p.maxTime, t)
	if p.dedup.admit(ev.Tenant, ev.EventID, p.maxTime, p.horizon, o) {
		return p.count(outDuplicate)
	}
	u := pricing.Usage{Input: ev.Usage.InputTokens, Output: ev.Usage.OutputTokens, CacheRead: ev.Usage.CacheReadTokens,
		CacheWrite: ev.Usage.CacheWriteTokens, CacheWrite1h: ev.Usage.CacheWrite1hTokens, Reasoning: ev.Usage.ReasoningTokens}
	cost, ref, err := p.cat.CostPair(u, ev.Provider, ev.Model, ev.Time, pricing.ReferenceTime(p.cfg.ReferenceDate, ev.Time))
	if err != nil {
		return p.deadLetter(m, err.Error())
	}
	e := priced{ev: ev, time: t, offset: o, cost: cost.CostNanos, refCost: ref.CostNanos, unpriced: !cost.Priced}
	uk := usageKey{windowStart(t, p.win), ev.Tenant, ev.App, ev.TaskType, ev.Provider, ev.Model, ev.Operation, ev.Status}
	tk := taskKey{windowStart(t, p.twin), ev.Tenant, ev.TaskID}
	late := uk.window < p.usageFloor
	coldTask := tk.window < p.taskFloor || p.wasEvicted(tk)
	if late || coldTask {
		cp := *ev // the decoder's event is reused; a deferred event keeps a copy
		e.ev = &cp
	}
	applied := false
	if late {
		p.coldUsage = append(p.coldUsage, e)
	} else {
		applied = p.applyUsage(uk, &e) || applied
	}
	if coldTask {
		p.coldTasks = append(p.coldTasks, e)
	} else {
		taskApplied := p.applyTask(tk, &e)
		if taskApplied && p.cfg.Observer != nil {
			p.observe(tk, &e)
		}
		applied = taskApplied || applied
	}
	switch {
	case late:
		return p.count(outLateCorrected)
	case !applied && !coldTask:
		return p.count(outReplayed)
	}
	return p.count(outAggregated)
}

// applyUsage adds e to its state unless the state already holds it.
func (p *partition) applyUsage(k usageKey, e *priced) bool {
	s := p.usage[k]
	if s == nil {
		k = k.clone() // the event's strings alias its message; a state outlives it
		s = &usageState{key: k, version: -1}
		p.usage[k] = s
	} else if s.version >= e.offset {
		return false
	}
	s.add(e)
	if !s.dirty {
		s.dirty = true
		p.dirtyUsage = append(p.dirtyUsage, s)
	}
	return true
}

func (p *partition) applyTask(k taskKey, e *priced) bool {
	s := p.tasks[k]
	if s == nil {
		k = k.clone()
		s = &taskState{key: k, version: -1}
		p.tasks[k] = s
	} else if s.version >= e.offset {
		return false
	}
	s.add(e)
	s.touched = p.cycle
	if !s.dirty {
		s.dirty = true
		p.dirtyTasks = append(p.dirtyTasks, s)
	}
	return true
}

func (p *partition) deadLetter(m *kafka.Message, reason string) outcome {
	if m.Offset > p.dlqThrough {
		p.dlq = append(p.dlq, deadLetter{msg: *m, reason: reason})
	}
	return p.count(outDeadLettered)
}

func (p *partition) count(o outcome) outcome {
	p.counts[o]++
	return o
}

// pending reports whether a flush has anything to write.
func (p *partition) pending() int {
	return len(p.dirtyUsage) + len(p.dirtyTasks) + len(p.coldUsage) + len(p.coldTasks) + len(p.dlq)
}

// flushBatch is what one flush of a partition makes durable.
type flushBatch struct {
	usage      []schemas.UsageRow
	tasks      []schemas.TaskRow
	checkpoint schemas.Checkpoint
	dlq        []deadLetter
	usageSt    []*usageState // the states the rows were taken from
	taskSt     []*taskState
}

// snapshot copies the dirty states and the checkpoint that follows them,
// and hands the states to the flush: processing may go on while it is
// written, and a state changed meanwhile becomes dirty again. Cold events
// must be resolved first; one snapshot at a time may be in flight.
func (p *partition) snapshot() (*flushBatch, error) {
	if len(p.coldUsage)+len(p.coldTasks) > 0 {
		return nil, errors.New("snapshot with unresolved late events")
	}
	b := &flushBatch{dlq: p.dlq, usage: make([]schemas.UsageRow, len(p.dirtyUsage)), tasks: make([]schemas.TaskRow, len(p.dirtyTasks)),
		usageSt: p.dirtyUsage, taskSt: p.dirtyTasks}
	for i, s := range p.dirtyUsage {
		b.usage[i] = s.row(p.id)
		s.dirty, s.flushing = false, true
	}
	for i, s := range p.dirtyTasks {
		b.tasks[i] = s.row(p.id)
		s.dirty, s.flushing = false, true
	}
	p.dirtyUsage = make([]*usageState, 0, cap(p.dirtyUsage))
	p.dirtyTasks = make([]*taskState, 0, cap(p.dirtyTasks))
	p.dlq = nil
	replayFrom, replayClock, ok := p.dedup.evict(p.maxTime, p.horizon)
	if !ok {
		replayFrom, replayClock = p.next, p.maxTime
	}
	b.checkpoint = schemas.Checkpoint{
		Group: p.cfg.Group, Topic: p.cfg.Topic, Partition: p.id,
		FlushedThrough: max(p.next, p.flushedThrough), ReplayFrom: replayFrom, ReplayMaxTime: replayClock,
	}
	return b, nil
}

// unflushed returns a snapshot that could not be made durable: its states
// are dirty again, so the next flush writes them. (Its dead letters may
// have been written; the restart logic finds them in the topic's tail.)
func (p *partition) unflushed(b *flushBatch) {
	for _, s := range b.usageSt {
		s.flushing = false
		if !s.dirty {
			s.dirty = true
			p.dirtyUsage = append(p.dirtyUsage, s)
		}
	}
	for _, s := range b.taskSt {
		s.flushing = false
		if !s.dirty {
			s.dirty = true
			p.dirtyTasks = append(p.dirtyTasks, s)
		}
	}
}

// flushed marks the snapshot durable: its states are clean unless changed
// since, closed windows leave memory and the floors move up.
func (p *partition) flushed(b *flushBatch) {
	for _, s := range b.usageSt {
		s.flushing = false
	}
	for _, s := range b.taskSt {
		s.flushing = false
	}
	if n := len(b.dlq); n > 0 {
		p.dlqThrough = max(p.dlqThrough, b.dlq[n-1].msg.Offset)
	}
	p.flushedThrough = b.checkpoint.FlushedThrough
	if uf := floorFor(p.maxTime, p.lateness, p.win); uf > p.usageFloor {
		p.usageFloor = uf
		for k, s := range p.usage {
			if k.window < uf && !s.dirty && !s.flushing {
				delete(p.usage, k)
			}
		}
	}
	if tf := floorFor(p.maxTime, p.lateness, p.twin); tf > p.taskFloor {
		p.taskFloor = tf
		for w := range p.evicted {
			if w < tf {
				delete(p.evicted, w)
			}
		}
	}
	p.evictTasks()
	p.cycle++
}

// dlqHeaders are the headers a dead letter carries besides the original's.
func dlqHeaders(topic string, d *deadLetter) []kafka.Header {
	h := append([]kafka.Header(nil), d.msg.Headers...)
	return append(h,
		kafka.Header{Key: "jevons-reason", Value: []byte(d.reason)},
		kafka.Header{Key: "jevons-src-topic", Value: []byte(topic)},
		kafka.Header{Key: "jevons-src-partition", Value: []byte(strconv.Itoa(d.msg.Partition))},
		kafka.Header{Key: "jevons-src-offset", Value: []byte(strconv.FormatInt(d.msg.Offset, 10))},
	)
}
