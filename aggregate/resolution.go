package aggregate

import (
	"time"

	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/sink"
)

// Usage states are kept at several resolutions: every counted event updates
// its usage key at each of them. A resolution is one window kind with its
// own table, floor, states, dirty list and cold list; all of them follow
// the same rules (whole states versioned by the offset of their last event,
// loaded on activation and on late corrections, flushed under one
// checkpoint, evicted when closed), so they share one code path.
const (
	resMinute = iota // the configured window (1m by default): table usage_rollup
	resDay           // the UTC day: table usage_daily_rollup
	resMonth         // the UTC calendar month: table usage_monthly_rollup
	numRes
)

// usageRes holds the usage states of one resolution.
type usageRes struct {
	table  string // ClickHouse table of its states
	res    int    // its index: resMinute, resDay or resMonth
	size   int64  // window size, ms; 0 for calendar months, which vary
	floor  int64  // windows >= floor: memory is authoritative
	states map[stateKey]*usageState
	dirty  []*usageState
	cold   []priced   // late events waiting for their stored state
	late   []stateKey // states below the floor in memory: they leave after their flush
	intern *interner  // the partition's

	overflowed int64  // late corrections left out of a state they would overflow
	largest    uint64 // no state has a sum above this
	month      monthCache
}

func newUsageRes(table string, size time.Duration) usageRes {
	return usageRes{table: table, size: size.Milliseconds(), floor: noTime, states: map[stateKey]*usageState{}}
}

// resolutions returns the usage resolutions of a config, indexed by
// resMinute, resDay and resMonth.
func resolutions(cfg *Config) [numRes]usageRes {
	rs := [numRes]usageRes{
		resMinute: newUsageRes(sink.UsageTable, cfg.Window),
		resDay:    newUsageRes(sink.UsageDailyTable, 24*time.Hour),
		resMonth:  newUsageRes(sink.UsageMonthlyTable, 0),
	}
	for i := range rs {
		rs[i].res = i
	}
	return rs
}

// start returns the start of the window of this resolution holding t.
func (r *usageRes) start(t int64) int64 {
	if r.size == 0 {
		return r.month.start(t)
	}
	return windowStart(t, r.size)
}

// floorAt returns the first window of this resolution that may still
// receive on-time events at this clock (see floorFor).
func (r *usageRes) floorAt(clock, lateness int64) int64 {
	if clock == noTime {
		return noTime
	}
	return r.start(clock - lateness)
}

// monthStart returns 00:00 UTC of the first day of the month holding t.
func monthStart(t int64) int64 {
	d := time.UnixMilli(t).UTC()
	return time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC).UnixMilli()
}

// monthCache is the month asked for last, [from, to) in unix ms: most
// events fall in the month of the event before them, and the calendar
// arithmetic of monthStart costs more than the rest of a window lookup.
type monthCache struct{ from, to int64 }

func (c *monthCache) start(t int64) int64 {
	if t >= c.from && t < c.to {
		return c.from
	}
	c.from = monthStart(t)
	c.to = time.UnixMilli(c.from).UTC().AddDate(0, 1, 0).UnixMilli()
	return c.from
}

// key returns the usage key of an event at this resolution.
func (r *usageRes) key(t int64, ev *schemas.Event) usageKey {
	return usageKey{r.start(t), ev.Tenant, ev.App, ev.TaskType, ev.Provider, ev.Model, ev.Operation, ev.Status}
}

// get returns the state of k in memory, or nil.
func (r *usageRes) get(k *usageKey) *usageState {
	d := r.intern.lookup(k.dims())
	if d == nil {
		return nil
	}
	return r.states[stateKey{k.window, d}]
}

// apply adds e to its state unless the state already holds it.
func (r *usageRes) apply(k usageKey, e *priced) bool {
	return r.applyAt(stateKey{k.window, r.intern.canon(k.dims())}, e)
}

// applyAt is apply with the key's dims already interned.
func (r *usageRes) applyAt(k stateKey, e *priced) bool {
	s := k.d.cur[r.res] // a state not gone is the one in r.states under its key
	if s == nil || s.key.window != k.window || s.gone {
		s = r.states[k]
	}
	if s == nil {
		s = &usageState{key: k, version: -1}
		r.states[k] = s
		if k.window < r.floor {
			r.late = append(r.late, k)
		}
	} else if s.version >= e.offset {
		return false
	} else if !s.sums.fits(e) { // a late correction onto a reloaded state (in memory, process checked first)
		r.overflowed++
		return false
	}
	s.add(e)
	k.d.cur[r.res] = s
	r.largest = max(r.largest, s.sums.largest())
	if !s.dirty {
		s.dirty = true
		r.dirty = append(r.dirty, s)
	}
	return true
}

// drop removes a state from memory; a hint to it is cleared (and would be
// ignored: it is gone).
func (r *usageRes) drop(k stateKey, s *usageState) {
	s.gone = true
	if k.d.cur[r.res] == s {
		k.d.cur[r.res] = nil
	}
	delete(r.states, k)
}

// load adds stored rows as states, keeping any state already in memory
// (memory is never older than what is stored).
func (r *usageRes) load(rows []schemas.UsageRow) {
	for i := range rows {
		if s := usageFromRow(&rows[i], r.intern); r.states[s.key] == nil {
			r.states[s.key] = s
			r.largest = max(r.largest, s.sums.largest())
			if s.key.window < r.floor {
				r.late = append(r.late, s.key)
			}
		}
	}
}

// snapshot turns the dirty states into rows and hands them to a flush.
func (r *usageRes) snapshot(p uint32, cols *schemas.UsageCols) []*usageState {
	cols.Grow(len(r.dirty))
	for _, s := range r.dirty {
		row := s.row(p)
		cols.Add(&row)
		s.dirty, s.flushing = false, true
	}
	st := r.dirty
	r.dirty = make([]*usageState, 0, cap(r.dirty))
	return st
}

// unflushed makes the states of a failed flush dirty again.
func (r *usageRes) unflushed(st []*usageState) {
	for _, s := range st {
		s.flushing = false
		if !s.dirty {
			s.dirty = true
			r.dirty = append(r.dirty, s)
		}
	}
}

// flushed marks a flush's states durable, raises the floor to the one of
// clock and drops the clean states of closed windows but the keepLate
// newest (late events correct the same day and month states again and
// again; each reload reads the stored states): whatever the arrival order,
// memory holds the open windows, at most keepLate clean late states and
// what the flushes in progress need.
func (r *usageRes) flushed(st []*usageState, clock, lateness int64, keepLate int) {
	for _, s := range st {
		s.flushing = false
	}
	if f := r.floorAt(clock, lateness); f > r.floor {
		// The states of windows that close become late states: the
		// keepLate newest of them stay, so a late event soon after (or a
		// backfill's next event of the same day or month) finds its state
		// in memory instead of loading it.
		for k := range r.states {
			if k.window < f && k.window >= r.floor {
				r.late = append(r.late, k)
			}
		}
		r.floor = f
	}
	excess := -keepLate // clean late states beyond keepLate, oldest first
	for _, k := range r.late {
		if s := r.states[k]; s != nil && !s.dirty && !s.flushing {
			excess++
		}
	}
	kept := r.late[:0]
	for _, k := range r.late {
		if s := r.states[k]; s != nil {
			if s.dirty || s.flushing || excess <= 0 {
				kept = append(kept, k)
			} else {
				r.drop(k, s)
				excess--
			}
		}
	}
	clear(r.late[len(kept):])
	r.late = kept
}
