package aggregate

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Observer sees every event the moment it is added to its task state, on
// the partition's goroutine, before any flush: stream alerting (package
// alert) evaluates runaway tasks with it. ObserveTask must not block or
// keep o (it is reused) or o.Partial.Models (the state's own slice, changed
// in place); it may keep the strings of either. A partition calls it in offset order, except for
// events of a task reloaded from storage (evicted while idle, or after a
// restart): those reach it when the reload lands, at the next flush.
type Observer interface {
	ObserveTask(o *TaskObservation)
}

// ReleaseObserver is an Observer that also learns when a partition's owner
// value lets the partition go (revocation, shutdown), so that it can drop
// what it holds for tasks it no longer owns.
type ReleaseObserver interface {
	Observer
	Released(partition uint32, owner uint64)
}

// TaskObservation is one event applied to its task partial: the event's
// own figures and the whole partial after it (the task's state in one task
// window of one source partition, the row task_rollup will hold).
type TaskObservation struct {
	Partition uint32
	Owner     uint64 // changes whenever the partition gets a new owner value (restart, rebalance)
	Offset    int64
	Time      int64 // event time, unix ms
	Tenant    string
	TaskID    string
	TaskType  string
	App       string
	Model     string
	Done      bool   // the event carried task_done
	Tokens    uint64 // input + output
	CostNanos int64

	Window  int64 // task window start, unix ms
	Partial TaskPartial
}

// TaskPartial is a task's whole state in one task window.
type TaskPartial struct {
	Requests         uint64
	Tokens           uint64 // input + output
	CostNanos        int64
	MinTime, MaxTime int64 // unix seconds
	Models           []string
	Done             bool
	Version          int64 // offset of the last event included
}

var owners atomic.Uint64

// observe reports an applied event to the configured observer.
func (p *partition) observe(k taskKey, e *priced) {
	if p.obsOwner == 0 {
		p.obsOwner = owners.Add(1)
	}
	s := p.tasks[k]
	ev := e.ev
	o := &p.obs
	in := &p.intern
	// The strings are the state's own or interned, never the message's
	// (its buffer is reused): an observer may keep them.
	*o = TaskObservation{
		Partition: p.id, Owner: p.obsOwner, Offset: e.offset, Time: e.time,
		Tenant: s.key.tenant, TaskID: s.key.taskID, TaskType: in.get(ev.TaskType), App: in.get(ev.App), Model: in.get(ev.Model), Done: ev.TaskDone,
		Tokens: uint64(ev.Usage.InputTokens + ev.Usage.OutputTokens), CostNanos: e.cost, Window: k.window,
		Partial: TaskPartial{Requests: s.sums.requests, Tokens: s.sums.input + s.sums.output, CostNanos: s.sums.cost,
			MinTime: s.minTime, MaxTime: s.maxTime, Models: s.models, Done: s.done, Version: s.version},
	}
	p.cfg.Observer.ObserveTask(o)
}

// release tells a ReleaseObserver that this owner value is done.
func (p *partition) release() {
	if o, ok := p.cfg.Observer.(ReleaseObserver); ok && p.obsOwner != 0 {
		o.Released(p.id, p.obsOwner)
	}
}

// Registry is where the aggregator's /metrics series live, for components
// that run inside it (stream alerting) to register theirs.
func (a *Aggregator) Registry() prometheus.Registerer { return a.m.reg }
