package aggregate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"strconv"
	"strings"
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
	LoadUsage(ctx context.Context, table string, partition uint32, from int64, keys []sink.UsageKey) ([]schemas.UsageRow, error)
	LoadTasks(ctx context.Context, partition uint32, from int64, keys []sink.TaskKey) ([]schemas.TaskRow, error)
	ScanUsageKeys(ctx context.Context, table string, partition uint32, from int64, add func(*sink.UsageKey)) error
	ScanTaskKeys(ctx context.Context, partition uint32, from int64, add func(*sink.TaskKey)) error
	LastTaskWindow(ctx context.Context, partition uint32, from int64) (int64, bool, error)
}

// deadLetter is a message bound for the dead-letter topic.
type deadLetter struct {
	msg    kafka.Message
	reason string
}

// partition holds the aggregation state of one source partition. It is
// owned by one goroutine and does no I/O except through store.
type partition struct {
	id       uint32
	cfg      *Config
	cat      *pricing.Catalog
	twin     int64 // task window size in ms
	lateness int64
	horizon  int64

	dec    schemas.Decoder
	ev     schemas.Event
	intern interner // dimension values shared by the states

	maxTime        int64 // event-time clock: max event time seen (ms)
	next           int64 // next offset to process
	flushedThrough int64 // below: inside stored rows (from the checkpoint)
	dlqThrough     int64 // at or below: already in the dead-letter topic
	dlqRecheck     bool  // the DLQ is read back before the next write: after a failed write, and before an owner's first
	active         bool  // stored open windows loaded

	catalog       string         // fingerprint of the catalog this owner prices with
	catalogFrom   int64          // the first offset priced with the partition's current catalog
	ckptCatalog   string         // the catalog the checkpoint's costs were priced with ("": not recorded)
	catalogChange *catalogChange // set by activate when this owner's catalog differs from the checkpoint's

	dedup                *dedupSet
	usage                [numRes]usageRes // usage states by resolution: minutes, days
	tasks                map[taskKey]*taskState
	taskFloor            int64 // task windows >= floor: memory is authoritative
	dirtyTasks           []*taskState
	evicted              map[int64]*evictedTasks // task window -> tasks evicted while it is open
	evictedN             int                     // hashes in evicted
	coldTasksUpTo        int64                   // task windows up to this start may hold stored states not in memory (after a restart)
	taskSeed1, taskSeed2 maphash.Seed
	cycle                int64      // flushes so far
	coldTasks            []priced   // events of evicted or closed task states, waiting for the stored state
	stored               storedKeys // which keys may have a stored state (cold path)
	dlq                  []deadLetter

	counts     [numOutcomes]int64
	largest    uint64 // no state in memory has a sum above this
	overflowed int64  // late corrections left out of a state they would overflow

	obs      TaskObservation // reused for cfg.Observer
	obsOwner uint64
}

// keepLate is how many clean late states of a resolution stay in memory
// after their flush: a tenth of MaxDirty, and MaxDirty for months. A
// partition has few month keys (one per dimension combination and month),
// and a late event of any day in a month corrects its month state: kept,
// a backfill loads each month state about once instead of at every flush.
func keepLate(cfg *Config, res int) int {
	if res == resMonth {
		return cfg.MaxDirty
	}
	return cfg.MaxDirty / 10
}

// keptLate is how many clean late states a partition keeps at most.
func keptLate(cfg *Config) int {
	n := 0
	for res := range numRes {
		n += keepLate(cfg, res)
	}
	return n
}

// overflowGuard: while every sum in memory stays below it, no event (at
// most 6e9 tokens and its cost) can overflow a state, so process checks
// states only beyond it.
const overflowGuard = math.MaxInt64 / 2

// largestSum bounds every sum of every state in memory.
func (p *partition) largestSum() uint64 {
	l := p.largest
	for i := range p.usage {
		l = max(l, p.usage[i].largest)
	}
	return l
}

// fits reports whether every in-memory state the event goes to can take it.
func (p *partition) fits(e *priced, ts *taskState, coldTask bool) bool {
	for i := range p.usage {
		r := &p.usage[i]
		if k := r.key(e.time, e.ev); k.window >= r.floor {
			if s := r.get(&k); s != nil && !s.sums.fits(e) {
				return false
			}
		}
	}
	if !coldTask && ts != nil && !ts.sums.fits(e) {
		return false
	}
	return true
}

func newPartition(id uint32, cfg *Config, cat *pricing.Catalog) *partition {
	p := &partition{
		id: id, cfg: cfg, cat: cat, catalog: cat.Fingerprint(),
		twin:     cfg.TaskWindow.Milliseconds(),
		lateness: cfg.AllowedLateness.Milliseconds(), horizon: cfg.DedupHorizon.Milliseconds(),
		maxTime: noTime, dlqThrough: -1, dedup: newDedupSet(cfg.DedupMaxEntries), dec: schemas.Decoder{Shared: true},
		usage: resolutions(cfg), tasks: map[taskKey]*taskState{}, taskFloor: noTime,
		evicted: map[int64]*evictedTasks{}, coldTasksUpTo: noTime, taskSeed1: maphash.MakeSeed(), taskSeed2: maphash.MakeSeed(),
	}
	for i := range p.usage {
		p.usage[i].intern = &p.intern
	}
	return p
}

// restore positions the partition after a checkpoint: replay starts at
// ReplayFrom with the clock as it stood there.
func (p *partition) restore(c schemas.Checkpoint) {
	p.next, p.flushedThrough = c.ReplayFrom, c.FlushedThrough
	p.maxTime = c.ReplayMaxTime
	p.ckptCatalog, p.catalogFrom = c.Catalog, c.CatalogFrom
}

// startFresh positions a partition that has no checkpoint.
func (p *partition) startFresh(offset int64) {
	p.next, p.flushedThrough = offset, 0
	p.ckptCatalog, p.catalogFrom = p.catalog, offset
}

// replaying reports whether offset lies below the checkpoint.
func (p *partition) replaying(offset int64) bool { return offset < p.flushedThrough }

// activate loads the stored states of windows that may still change, so
// that memory continues from what is stored rather than from zero.
func (p *partition) activate(ctx context.Context, st store, now time.Time) error {
	for i := range p.usage {
		r := &p.usage[i]
		r.floor = r.floorAt(p.maxTime, p.lateness)
		rows, err := st.LoadUsage(ctx, r.table, p.id, r.floor, nil)
		if err != nil {
			return err
		}
		r.load(rows)
	}
	// Task states are not loaded here: open task windows can hold many
	// tasks. Until those windows close, a task not in memory is loaded by
	// key before its event is applied. Rows of a flush that landed without
	// its checkpoint can lie ahead of the clock, up to the broker's bound on
	// event time: the wall clock bounds that range (it decides only what is
	// loaded, never what is counted).
	// No window after the newest one stored can hold a stored state: a first
	// start (nothing stored) defers no task's first event.
	p.taskFloor = floorFor(p.maxTime, p.lateness, p.twin)
	p.coldTasksUpTo = windowStart(max(p.maxTime, now.UnixMilli()+time.Hour.Milliseconds()+p.cfg.MaxFuture.Milliseconds()), p.twin)
	last, stored, err := st.LastTaskWindow(ctx, p.id, p.taskFloor)
	if err != nil {
		return err
	}
	if !stored {
		p.coldTasksUpTo = noTime
	} else {
		p.coldTasksUpTo = min(p.coldTasksUpTo, last)
	}
	p.active = true
	p.adoptCatalog()
	return nil
}

// catalogChange is a partition's move to another price catalog: events
// below From were priced with Previous, events from From on with Current.
type catalogChange struct {
	Previous, Current string
	From              int64
}

// adoptCatalog makes this owner's catalog the partition's from the first
// offset it prices (flushed_through: every event below it is inside a
// stored state, priced by the previous owner). Stored costs are never
// restated: a state loaded later keeps its events' old costs and adds new
// events at the new prices.
func (p *partition) adoptCatalog() {
	if p.ckptCatalog == p.catalog {
		return
	}
	p.catalogChange = &catalogChange{Previous: p.ckptCatalog, Current: p.catalog, From: p.flushedThrough}
	p.ckptCatalog, p.catalogFrom = p.catalog, p.flushedThrough
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
	tk := taskKey{windowStart(t, p.twin), ev.Tenant, ev.TaskID}
	ts := p.tasks[tk] // looked up once: the task map is the largest the event touches
	// The event's interned dims, looked up once for pricing and every
	// resolution: its task's last event's, when they are equal and still
	// the canonical record, or else from the table.
	ed := eventDims(ev)
	var d *dimsRec
	if ts != nil && ts.dims != nil && !ts.dims.dropped && ts.dims.dims == ed {
		d = ts.dims
	} else {
		d = p.intern.canon(ed)
	}
	// The catalog is given the interned strings: it may keep them, and the
	// event's point into the fetched batch's buffer.
	if !d.matched {
		d.match, d.matched = p.cat.Match(d.provider, d.model), true
	}
	var cost, ref pricing.Result
	var err error
	if refTime := pricing.ReferenceTime(p.cfg.ReferenceDate, ev.Time); d.match != nil {
		cost, ref, err = d.match.CostPair(u, ev.Time, refTime)
	} else { // the catalog counts the unknown model's requests
		cost, ref, err = p.cat.CostPair(u, d.provider, d.model, ev.Time, refTime)
	}
	if err != nil {
		return p.deadLetter(m, err.Error())
	}
	e := priced{ev: ev, time: t, offset: o, cost: cost.CostNanos, refCost: ref.CostNanos, unpriced: !cost.Priced}
	// A window below its resolution's floor is late: its state is loaded
	// before the event is applied. The minute floor is the highest, so a
	// late day or month is always a late minute too.
	late := p.usage[resMinute].start(t) < p.usage[resMinute].floor
	coldTask := tk.window < p.taskFloor || ts == nil && p.wasEvicted(tk)
	if late || coldTask {
		e.ev = detach(ev) // the decoder's event is reused, and its strings share the message's buffer
	}
	if p.largestSum() > overflowGuard-uint64(max(e.cost, e.refCost, 6*schemas.MaxTokens)) && !p.fits(&e, ts, coldTask) {
		return p.deadLetter(m, "adding this event would take a usage or task state's sums past their columns' maximum (Int64 nano-dollars)")
	}
	applied := false
	for i := range p.usage {
		r := &p.usage[i]
		if w := r.start(t); w < r.floor {
			r.cold = append(r.cold, e)
		} else {
			applied = r.applyAt(stateKey{w, d}, &e) || applied
		}
	}
	if coldTask {
		p.coldTasks = append(p.coldTasks, e)
	} else {
		var taskApplied bool
		ts, taskApplied = p.applyTaskTo(ts, tk, &e)
		ts.dims = d
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

// applyTask adds e to its task state unless the state already holds it.
func (p *partition) applyTask(k taskKey, e *priced) bool {
	_, applied := p.applyTaskTo(p.tasks[k], k, e)
	return applied
}

// applyTaskTo is applyTask with the task's state already looked up (nil:
// none in memory). It returns the task's state, made if there was none.
func (p *partition) applyTaskTo(s *taskState, k taskKey, e *priced) (*taskState, bool) {
	if s == nil {
		k = k.clone(&p.intern)
		s = &taskState{key: k, version: -1}
		p.tasks[k] = s
	} else if s.version >= e.offset {
		return s, false
	}
	if !s.sums.fits(e) { // a late correction onto a reloaded state (in memory, process checked first)
		p.overflowed++
		return s, false
	}
	s.add(e, &p.intern)
	p.largest = max(p.largest, s.sums.largest())
	s.touched = p.cycle
	if !s.dirty {
		s.dirty = true
		p.dirtyTasks = append(p.dirtyTasks, s)
	}
	return s, true
}

func (p *partition) deadLetter(m *kafka.Message, reason string) outcome {
	if m.Offset > p.dlqThrough {
		d := deadLetter{msg: *m, reason: reason}
		// The key and value live in the fetched batch's buffer, which is
		// reused once the batch is processed; headers are kafka-go's own.
		d.msg.Key, d.msg.Value = bytes.Clone(m.Key), bytes.Clone(m.Value)
		p.dlq = append(p.dlq, d)
	}
	return p.count(outDeadLettered)
}

func (p *partition) count(o outcome) outcome {
	p.counts[o]++
	return o
}

// cold counts the events waiting for a stored state.
func (p *partition) cold() int {
	n := len(p.coldTasks)
	for i := range p.usage {
		n += len(p.usage[i].cold)
	}
	return n
}

// pending reports whether a flush has anything to write.
func (p *partition) pending() int {
	n := len(p.dirtyTasks) + len(p.coldTasks) + len(p.dlq)
	for i := range p.usage {
		n += len(p.usage[i].dirty) + len(p.usage[i].cold)
	}
	return n
}

// pressure counts what forces a flush at MaxDirty: changed task and
// minute states, events waiting for a stored state and dead letters. The
// day and month states events change are left out. Each flush rewrites
// the ones it finds changed, and at high cardinality nearly all of them
// change between two flushes: counted, they made a backlog flush more
// often, rewriting the same day and month rows each time. An event that
// changes a day or month state also changes its minute state or waits as
// a late event, so a flush holds at most twice as many of them as what is
// counted. Not so in a replay after a flush that landed in part (its
// minute rows in, its day rows not): the replayed events change day and
// month states and find their minute states holding them already, and a
// crash at each such flush would make every next one larger. So when day
// and month states are more than twice the rest, half their number counts
// instead. Before the event that reaches MaxDirty, the rest is below it and
// day and month states below twice it; that event adds at most four states
// (a task, and a minute, a day and a month state, each changed or waiting),
// so a flush holds at most 3*MaxDirty+2 states, however it came.
func (p *partition) pressure() int {
	n := len(p.dirtyTasks) + len(p.usage[resMinute].dirty) + p.cold() + len(p.dlq)
	return max(n, (len(p.usage[resDay].dirty)+len(p.usage[resMonth].dirty))/2)
}

// detach returns a copy of ev whose strings are its own: the decoder's
// strings point into the message (Decoder.Shared), whose buffer the fetcher
// reuses once its batch is processed.
func detach(ev *schemas.Event) *schemas.Event {
	cp := *ev
	fields := [...]*string{&cp.EventID, &cp.Tenant, &cp.TaskID, &cp.TaskType, &cp.App, &cp.Provider, &cp.Model, &cp.Operation, &cp.Status}
	n := 0
	for _, s := range fields {
		n += len(*s)
	}
	var b strings.Builder // one allocation for all of them
	b.Grow(n)
	for _, s := range fields {
		b.WriteString(*s)
	}
	all := b.String()
	for _, s := range fields {
		n := len(*s)
		*s, all = all[:n], all[n:]
	}
	return &cp
}

// flushBatch is what one flush of a partition makes durable.
type flushBatch struct {
	usage      [numRes]sink.UsageRows // by resolution
	tasks      schemas.TaskCols
	checkpoint schemas.Checkpoint
	dlq        []deadLetter
	dlqRecheck bool                  // an earlier write of these dead letters may have landed in part
	dlqWritten bool                  // set by the flush once they are in the DLQ
	usageSt    [numRes][]*usageState // the states the rows were taken from
	taskSt     []*taskState
}

// snapshot copies the dirty states and the checkpoint that follows them,
// and hands the states to the flush: processing may go on while it is
// written, and a state changed meanwhile becomes dirty again. Cold events
// must be resolved first; one snapshot at a time may be in flight.
func (p *partition) snapshot() (*flushBatch, error) {
	if p.cold() > 0 {
		return nil, errors.New("snapshot with unresolved late events")
	}
	b := &flushBatch{dlq: p.dlq, dlqRecheck: p.dlqRecheck, taskSt: p.dirtyTasks}
	for i := range p.usage {
		r := &p.usage[i]
		b.usage[i].Table = r.table
		b.usageSt[i] = r.snapshot(p.id, &b.usage[i].Cols)
	}
	b.tasks.Grow(len(p.dirtyTasks))
	for _, s := range p.dirtyTasks {
		row := s.row(p.id)
		b.tasks.Add(&row)
		s.dirty, s.flushing = false, true
	}
	p.dirtyTasks = make([]*taskState, 0, cap(p.dirtyTasks))
	p.dlq = nil
	replayFrom, replayClock, ok := p.dedup.evict(p.maxTime, p.horizon, p.next)
	if !ok {
		replayFrom, replayClock = p.next, p.maxTime
	}
	p.noteStored(b)
	b.checkpoint = schemas.Checkpoint{
		Group: p.cfg.Group, Topic: p.cfg.Topic, Partition: p.id,
		FlushedThrough: max(p.next, p.flushedThrough), ReplayFrom: replayFrom, ReplayMaxTime: replayClock,
		Catalog: p.catalog, CatalogFrom: p.catalogFrom,
	}
	return b, nil
}

// unflushed returns a snapshot that could not be made durable: its states
// are dirty again, so the next flush writes them, and so are its dead
// letters unless they landed (if they may have landed in part, the next
// write reads the DLQ back first).
func (p *partition) unflushed(b *flushBatch) {
	if b.dlqWritten {
		p.dlqThrough = max(p.dlqThrough, b.dlq[len(b.dlq)-1].msg.Offset)
	} else if len(b.dlq) > 0 {
		p.dlq = append(b.dlq, p.dlq...)
		p.dlqRecheck = true
	}
	for i := range p.usage {
		p.usage[i].unflushed(b.usageSt[i])
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
	for i := range p.usage {
		p.usage[i].flushed(b.usageSt[i], p.maxTime, p.lateness, keepLate(p.cfg, i))
	}
	for _, s := range b.taskSt {
		s.flushing = false
	}
	if n := len(b.dlq); n > 0 {
		p.dlqThrough = max(p.dlqThrough, b.dlq[n-1].msg.Offset)
		p.dlqRecheck = false
	}
	p.flushedThrough = b.checkpoint.FlushedThrough
	if tf := floorFor(p.maxTime, p.lateness, p.twin); tf > p.taskFloor {
		p.taskFloor = tf
		for w, set := range p.evicted {
			if w < tf {
				p.evictedN -= len(set.hashes)
				delete(p.evicted, w)
			}
		}
	}
	p.evictTasks()
	p.compactDims()
	p.cycle++
}

// minDimsTable is the size below which the interned dims are never
// rebuilt.
const minDimsTable = 1 << 12

// compactDims rebuilds the interned dims from the usage states in memory
// once the table holds more than twice the combinations they use, so that
// the combinations of closed windows do not pile up: it stays bounded by
// the states kept. Equal dims share one pointer before, so after.
func (p *partition) compactDims() {
	live := 0
	for i := range p.usage {
		live += len(p.usage[i].states)
	}
	if len(p.intern.dims) <= max(2*live, minDimsTable) {
		return
	}
	m := make(map[dims]*dimsRec, 2*live)
	for i := range p.usage {
		for k := range p.usage[i].states {
			m[k.d.dims] = k.d
		}
	}
	for d, rec := range p.intern.dims {
		if m[d] != rec {
			rec.dropped = true
		}
	}
	p.intern.dims = m
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
