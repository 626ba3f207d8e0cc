package aggregate

import (
	"time"

	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/sink"
)

// Usage states are kept at several resolutions: every counted event updates
// its usage key at each of them. A resolution is one window size with its
// own table, floor, states, dirty list and cold list; all of them follow
// the same rules (whole states versioned by the offset of their last event,
// loaded on activation and on late corrections, flushed under one
// checkpoint, evicted when closed), so they share one code path.
const (
	resMinute = iota // the configured window (1m by default): table usage_rollup
	resDay           // the UTC day: table usage_daily_rollup
	numRes
)

// usageRes holds the usage states of one resolution.
type usageRes struct {
	table  string // ClickHouse table of its states
	size   int64  // window size, ms
	floor  int64  // windows >= floor: memory is authoritative
	states map[usageKey]*usageState
	dirty  []*usageState
	cold   []priced   // late events waiting for their stored state
	late   []usageKey // states below the floor in memory: they leave after their flush
	intern *interner  // the partition's

	overflowed int64  // late corrections left out of a state they would overflow
	largest    uint64 // no state has a sum above this
}

func newUsageRes(table string, size time.Duration) usageRes {
	return usageRes{table: table, size: size.Milliseconds(), floor: noTime, states: map[usageKey]*usageState{}}
}

// resolutions returns the usage resolutions of a config, indexed by resMinute
// and resDay.
func resolutions(cfg *Config) [numRes]usageRes {
	return [numRes]usageRes{
		resMinute: newUsageRes(sink.UsageTable, cfg.Window),
		resDay:    newUsageRes(sink.UsageDailyTable, 24*time.Hour),
	}
}

// key returns the usage key of an event at this resolution.
func (r *usageRes) key(t int64, ev *schemas.Event) usageKey {
	return usageKey{windowStart(t, r.size), ev.Tenant, ev.App, ev.TaskType, ev.Provider, ev.Model, ev.Operation, ev.Status}
}

// apply adds e to its state unless the state already holds it.
func (r *usageRes) apply(k usageKey, e *priced) bool {
	s := r.states[k]
	if s == nil {
		k = k.clone(r.intern)
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
	r.largest = max(r.largest, s.sums.largest())
	if !s.dirty {
		s.dirty = true
		r.dirty = append(r.dirty, s)
	}
	return true
}

// load adds stored rows as states, keeping any state already in memory
// (memory is never older than what is stored).
func (r *usageRes) load(rows []schemas.UsageRow) {
	for i := range rows {
		if s := usageFromRow(&rows[i]); r.states[s.key] == nil {
			r.states[s.key] = s
			r.largest = max(r.largest, s.sums.largest())
			if s.key.window < r.floor {
				r.late = append(r.late, s.key)
			}
		}
	}
}

// snapshot turns the dirty states into rows and hands them to a flush.
func (r *usageRes) snapshot(p uint32) ([]schemas.UsageRow, []*usageState) {
	rows := make([]schemas.UsageRow, len(r.dirty))
	for i, s := range r.dirty {
		rows[i] = s.row(p)
		s.dirty, s.flushing = false, true
	}
	st := r.dirty
	r.dirty = make([]*usageState, 0, cap(r.dirty))
	return rows, st
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
// clock and drops the clean states of closed windows, including those of
// late corrections: whatever the arrival order, memory holds only open
// windows and what the flushes in progress need.
func (r *usageRes) flushed(st []*usageState, clock, lateness int64) {
	for _, s := range st {
		s.flushing = false
	}
	if f := floorFor(clock, lateness, r.size); f > r.floor {
		r.floor = f
		for k, s := range r.states {
			if k.window < f && !s.dirty && !s.flushing {
				delete(r.states, k)
			}
		}
	}
	kept := r.late[:0]
	for _, k := range r.late {
		if s := r.states[k]; s != nil {
			if s.dirty || s.flushing {
				kept = append(kept, k)
			} else {
				delete(r.states, k)
			}
		}
	}
	clear(r.late[len(kept):])
	r.late = kept
}
