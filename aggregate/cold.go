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
	for i := range p.usage {
		if err := p.resolveColdUsage(ctx, st, &p.usage[i]); err != nil {
			return err
		}
	}
	if len(p.coldTasks) > 0 {
		var keys []sink.TaskKey
		seen := map[taskKey]bool{}
		for i := range p.coldTasks {
			k := p.coldTaskKey(&p.coldTasks[i])
			if p.tasks[k] == nil && !seen[k] {
				seen[k] = true
				keys = append(keys, sink.TaskKey{Window: k.window, Tenant: k.tenant, TaskID: k.taskID})
			}
		}
		for len(keys) > 0 {
			chunk := keys[:min(len(keys), 1000)]
			keys = keys[len(chunk):]
			rows, err := st.LoadTasks(ctx, p.id, noTime, chunk)
			if err != nil {
				return fmt.Errorf("load late task windows: %w", err)
			}
			for i := range rows {
				if s := taskFromRow(&rows[i]); p.tasks[s.key] == nil {
					p.tasks[s.key] = s
					p.unevict(s.key)
				}
			}
		}
		for i := range p.coldTasks {
			p.applyTask(p.coldTaskKey(&p.coldTasks[i]), &p.coldTasks[i])
		}
		p.coldTasks = p.coldTasks[:0]
	}
	return nil
}

// resolveColdUsage loads the stored states of one resolution's late
// events and applies the events in offset order.
func (p *partition) resolveColdUsage(ctx context.Context, st store, r *usageRes) error {
	if len(r.cold) == 0 {
		return nil
	}
	var windows []int64
	for i := range r.cold {
		e := &r.cold[i]
		if k := r.key(e.time, e.ev); r.states[k] == nil {
			windows = append(windows, k.window)
		}
	}
	if len(windows) > 0 {
		rows, err := st.LoadUsage(ctx, r.table, p.id, noTime, windows)
		if err != nil {
			return fmt.Errorf("load late %s windows: %w", r.table, err)
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
			set := p.evicted[k.window]
			if set == nil {
				set = map[[2]uint64]struct{}{}
				p.evicted[k.window] = set
			}
			set[p.taskHash(k)] = struct{}{}
		}
	}
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

func (p *partition) wasEvicted(k taskKey) bool {
	set := p.evicted[k.window]
	if set == nil || p.tasks[k] != nil {
		return false
	}
	_, ok := set[p.taskHash(k)]
	return ok
}

func (p *partition) unevict(k taskKey) {
	if set := p.evicted[k.window]; set != nil {
		delete(set, p.taskHash(k))
	}
}
