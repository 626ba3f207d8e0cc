package aggregate

import (
	"context"
	"fmt"
	"hash/maphash"

	"github.com/jevonsdev/jevons/sink"
)

// This file holds the states that are not in memory: late events, whose
// windows closed, and task partials evicted while their window is open.
// Both reload the stored state before an event is applied.

// resolveCold loads the stored states of late events' keys and applies the
// events in offset order.
func (p *partition) resolveCold(ctx context.Context, st store) error {
	if p.cold() > 0 {
		if err := p.buildStored(ctx, st); err != nil {
			return err
		}
	}
	for i := range p.usage {
		if err := p.resolveColdUsage(ctx, st, i); err != nil {
			return err
		}
	}
	if len(p.coldTasks) > 0 {
		var keys []sink.TaskKey
		seen := map[taskKey]bool{}
		for i := range p.coldTasks {
			k := p.coldTaskKey(&p.coldTasks[i])
			if p.tasks[k] == nil && !seen[k] && p.stored.mayHold(storedTasks, k.window, p.stored.taskHash(&k)) {
				seen[k] = true
				keys = append(keys, sink.TaskKey{Window: k.window, Tenant: k.tenant, TaskID: k.taskID})
			}
		}
		if len(keys) > 0 { // the store sends them in chunks of bounded bytes
			rows, err := st.LoadTasks(ctx, p.id, noTime, keys)
			if err != nil {
				return fmt.Errorf("load late task states: %w", err)
			}
			for i := range rows {
				if s := taskFromRow(&rows[i]); p.tasks[s.key] == nil {
					p.tasks[s.key] = s
					p.largest = max(p.largest, s.sums.largest())
					p.unevict(s.key)
				}
			}
		}
		for i := range p.coldTasks {
			// A task reloaded after eviction or a restart is still running:
			// the observer sees these events too, one flush later.
			if k := p.coldTaskKey(&p.coldTasks[i]); p.applyTask(k, &p.coldTasks[i]) && p.cfg.Observer != nil {
				p.observe(k, &p.coldTasks[i])
			}
		}
		p.coldTasks = p.coldTasks[:0]
	}
	return nil
}

// resolveColdUsage loads the stored states of one resolution's late
// events and applies the events in offset order.
func (p *partition) resolveColdUsage(ctx context.Context, st store, res int) error {
	r := &p.usage[res]
	if len(r.cold) == 0 {
		return nil
	}
	var keys []sink.UsageKey // only the keys needed: a late event's window may hold many
	seen := map[usageKey]bool{}
	for i := range r.cold {
		e := &r.cold[i]
		if k := r.key(e.time, e.ev); r.get(&k) == nil && !seen[k] && p.stored.mayHold(res, k.window, p.stored.usageHash(res, &k)) {
			seen[k] = true
			keys = append(keys, sink.UsageKey{Window: k.window, Tenant: k.tenant, App: k.app, TaskType: k.taskType,
				Provider: k.provider, Model: k.model, Operation: k.operation, Status: k.status})
		}
	}
	if len(keys) > 0 {
		rows, err := st.LoadUsage(ctx, r.table, p.id, noTime, keys)
		if err != nil {
			return fmt.Errorf("load late %s states: %w", r.table, err)
		}
		r.load(rows)
	}
	for i := range r.cold {
		e := &r.cold[i]
		r.apply(r.key(e.time, e.ev), e)
	}
	r.cold = r.cold[:0]
	return nil
}

func (p *partition) coldTaskKey(e *priced) taskKey {
	return taskKey{windowStart(e.time, p.twin), e.ev.Tenant, e.ev.TaskID}
}

// taskIdleFlushes is how many flushes a task partial may go without an
// event before it leaves memory; a done task leaves at once.
const taskIdleFlushes = 3

// evictTasks drops clean task states of closed windows, of done tasks and of
// idle tasks. Task windows are long (an hour by default) and tasks many, so
// open-window states leave memory too; their hashes are kept so that a
// later event reloads the stored state instead of starting from zero.
func (p *partition) evictTasks() {
	for k, s := range p.tasks {
		if s.dirty || s.flushing {
			continue
		}
		if k.window < p.taskFloor {
			delete(p.tasks, k)
			continue
		}
		if s.done || p.cycle-s.touched >= taskIdleFlushes {
			delete(p.tasks, k)
			p.noteEvicted(k)
		}
	}
}

// evictedTasks remembers the tasks of one open window that left memory, so
// that a later event loads the stored state instead of starting from zero.
// Past maxEvictedHashes per partition a window keeps no hashes: every task
// of it not in memory is then loaded first (exact, and bounded; a task
// never stored costs a load that finds nothing).
type evictedTasks struct {
	hashes map[[2]uint64]struct{}
	all    bool
}

const maxEvictedHashes = 100_000

func (p *partition) noteEvicted(k taskKey) {
	if k.window <= p.coldTasksUpTo {
		return // cold on a miss already
	}
	set := p.evicted[k.window]
	if set == nil {
		set = &evictedTasks{hashes: map[[2]uint64]struct{}{}}
		p.evicted[k.window] = set
	}
	if set.all {
		return
	}
	if p.evictedN >= maxEvictedHashes {
		p.evictedN -= len(set.hashes)
		set.hashes, set.all = nil, true
		return
	}
	set.hashes[p.taskHash(k)] = struct{}{}
	p.evictedN++
}

func (p *partition) taskHash(k taskKey) [2]uint64 {
	var h1, h2 maphash.Hash
	h1.SetSeed(p.taskSeed1)
	h2.SetSeed(p.taskSeed2)
	h1.WriteString(k.tenant)
	h1.WriteByte(0)
	h1.WriteString(k.taskID)
	h2.WriteString(k.taskID)
	h2.WriteByte(0)
	h2.WriteString(k.tenant)
	return [2]uint64{h1.Sum64(), h2.Sum64()}
}

// wasEvicted tells whether the task k, which has no state in memory, had one
// that was evicted (its stored row must be loaded before it is added to).
func (p *partition) wasEvicted(k taskKey) bool {
	if k.window <= p.coldTasksUpTo {
		return true
	}
	set := p.evicted[k.window]
	if set == nil {
		return false
	}
	if set.all {
		return true
	}
	_, ok := set.hashes[p.taskHash(k)]
	return ok
}

func (p *partition) unevict(k taskKey) {
	if set := p.evicted[k.window]; set != nil && !set.all {
		if _, ok := set.hashes[p.taskHash(k)]; ok {
			delete(set.hashes, p.taskHash(k))
			p.evictedN--
		}
	}
}
