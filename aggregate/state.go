package aggregate

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/schemas"
)

// usageKey identifies a usage rollup row within one source partition, as
// the stored rows and the late path name it.
type usageKey struct {
	window                                                    int64
	tenant, app, taskType, provider, model, operation, status string
}

func (k *usageKey) dims() dims {
	return dims{k.tenant, k.app, k.taskType, k.provider, k.model, k.operation, k.status}
}

// dims are the dimension values of a usage key besides its window.
type dims struct{ tenant, app, taskType, provider, model, operation, status string }

func eventDims(ev *schemas.Event) dims {
	return dims{ev.Tenant, ev.App, ev.TaskType, ev.Provider, ev.Model, ev.Operation, ev.Status}
}

// dimsRec is the canonical record of one dims value in a partition: its
// strings and, per resolution, the state it was last applied to. That
// state is a hint, valid while it is still in memory (not gone) and of the
// event's window: most events of a combination go to the state the
// previous one went to, and then no map is probed.
type dimsRec struct {
	dims
	cur [numRes]*usageState
	// The catalog's match of the provider and model (nil: unknown), once
	// matched: the catalog's own cache is shared by every partition.
	match   *pricing.Model
	matched bool
	// dropped: the table of canonical records no longer holds this one
	// (partition.compactDims), so a task's hint to it is stale.
	dropped bool
}

// stateKey is a usage state's key in memory: its window and its dims,
// interned so that a partition has one *dimsRec per distinct value (see
// interner.dims). A lookup hashes and compares 16 bytes instead of seven
// strings, an event's dims are looked up once for every resolution, and a
// state holds one pointer for the collector instead of seven.
type stateKey struct {
	window int64
	d      *dimsRec
}

func (k *stateKey) full() usageKey {
	d := k.d
	return usageKey{k.window, d.tenant, d.app, d.taskType, d.provider, d.model, d.operation, d.status}
}

// taskKey identifies one task's partial within one task window.
type taskKey struct {
	window         int64
	tenant, taskID string
}

func (k taskKey) clone(in *interner) taskKey {
	return taskKey{k.window, in.get(k.tenant), strings.Clone(k.taskID)}
}

// interner shares one copy of each dimension value (tenant, app, model,
// ...) among a partition's states, so a new state costs no string of its
// own. It forgets everything past maxInterned values, so that ever-new
// values cannot grow it without bound: strings already shared stay valid.
//
// It also keeps the canonical *dims of each dimension combination: two
// usage states with equal dims must share the pointer (stateKey compares
// pointers), so this table is never reset while a state holds one of its
// values; the partition rebuilds it from the states in memory instead
// (partition.compactDims), which bounds it by the states kept (between
// rebuilds it also holds the combinations of late and dead-lettered events,
// which are interned before pricing). A record the rebuild leaves out is
// marked dropped: task states keep their last event's record as a hint.
type interner struct {
	m    map[string]string
	dims map[dims]*dimsRec
}

// canon returns the canonical record of d, adding it (with strings of its
// own) when new.
func (in *interner) canon(d dims) *dimsRec {
	if c := in.dims[d]; c != nil {
		return c
	}
	if in.dims == nil {
		in.dims = make(map[dims]*dimsRec, 256)
	}
	c := &dimsRec{dims: dims{in.get(d.tenant), in.get(d.app), in.get(d.taskType), in.get(d.provider), in.get(d.model), in.get(d.operation), in.get(d.status)}}
	in.dims[c.dims] = c
	return c
}

// lookup returns the canonical record of d, or nil: no state in memory has
// these dims.
func (in *interner) lookup(d dims) *dimsRec { return in.dims[d] }

const maxInterned = 1 << 16

func (in *interner) get(s string) string {
	if v, ok := in.m[s]; ok {
		return v
	}
	if in.m == nil || len(in.m) >= maxInterned {
		in.m = make(map[string]string, 256)
	}
	v := strings.Clone(s)
	in.m[v] = v
	return v
}

// priced is one counted event with its two costs.
type priced struct {
	ev       *schemas.Event
	time     int64 // unix ms
	offset   int64
	cost     int64
	refCost  int64
	unpriced bool
}

// sums are the additive totals both rollups keep.
type sums struct {
	requests, input, output, cacheRead, cacheWrite, cacheWrite1h, reasoning, unpriced uint64
	cost, refCost                                                                     int64
}

// fits reports whether adding e keeps every sum within its column's range
// (Int64 for costs, UInt64 for counts).
func (s *sums) fits(e *priced) bool {
	u := &e.ev.Usage
	for _, c := range [...]struct{ sum, add uint64 }{{s.input, uint64(u.InputTokens)}, {s.output, uint64(u.OutputTokens)},
		{s.cacheRead, uint64(u.CacheReadTokens)}, {s.cacheWrite, uint64(u.CacheWriteTokens)},
		{s.cacheWrite1h, uint64(u.CacheWrite1hTokens)}, {s.reasoning, uint64(u.ReasoningTokens)}} {
		if c.sum > math.MaxUint64-c.add {
			return false
		}
	}
	return e.cost >= 0 && e.refCost >= 0 && s.cost <= math.MaxInt64-e.cost && s.refCost <= math.MaxInt64-e.refCost
}

// largest is the largest sum, for a cheap bound on every state's headroom.
func (s *sums) largest() uint64 {
	return max(uint64(max(s.cost, s.refCost, 0)), s.input, s.output, s.cacheRead, s.cacheWrite, s.reasoning)
}

func (s *sums) add(e *priced) {
	u := &e.ev.Usage
	s.requests++
	s.input += uint64(u.InputTokens)
	s.output += uint64(u.OutputTokens)
	s.cacheRead += uint64(u.CacheReadTokens)
	s.cacheWrite += uint64(u.CacheWriteTokens)
	s.cacheWrite1h += uint64(u.CacheWrite1hTokens)
	s.reasoning += uint64(u.ReasoningTokens)
	s.cost += e.cost
	s.refCost += e.refCost
	if e.unpriced {
		s.unpriced++
	}
}

// usageState is the whole state of a usage key: every counted event of the
// partition for that key up to offset version. It is kept compact and
// turned into a row only when flushed.
type usageState struct {
	key            stateKey
	sums           sums
	latSum, latMax uint64
	version        int64 // offset of the last event included; -1 when empty
	dirty          bool  // changed since the last snapshot
	flushing       bool  // in a snapshot not yet durable
	gone           bool  // left memory: a dimsRec hint to it is stale
}

func (s *usageState) add(e *priced) {
	s.sums.add(e)
	l := uint64(e.ev.LatencyMs)
	s.latSum += l
	s.latMax = max(s.latMax, l)
	s.version = e.offset
}

func (s *usageState) row(p uint32) schemas.UsageRow {
	k, d, m := &s.key, s.key.d, &s.sums
	return schemas.UsageRow{
		SrcPartition: p, WindowStart: time.UnixMilli(k.window).UTC(), Tenant: d.tenant, App: d.app, TaskType: d.taskType,
		Provider: d.provider, Model: d.model, Operation: d.operation, Status: d.status,
		Requests: m.requests, InputTokens: m.input, OutputTokens: m.output, CacheReadTokens: m.cacheRead,
		CacheWriteTokens: m.cacheWrite, CacheWrite1hTokens: m.cacheWrite1h, ReasoningTokens: m.reasoning,
		CostNanos: m.cost, RefCostNanos: m.refCost, UnpricedRequests: m.unpriced,
		LatencyMsSum: s.latSum, LatencyMsMax: s.latMax, Version: uint64(s.version),
	}
}

func usageFromRow(r *schemas.UsageRow, in *interner) *usageState {
	return &usageState{
		key: stateKey{r.WindowStart.UnixMilli(), in.canon(dims{r.Tenant, r.App, r.TaskType, r.Provider, r.Model, r.Operation, r.Status})},
		sums: sums{r.Requests, r.InputTokens, r.OutputTokens, r.CacheReadTokens, r.CacheWriteTokens, r.CacheWrite1hTokens,
			r.ReasoningTokens, r.UnpricedRequests, r.CostNanos, r.RefCostNanos},
		latSum: r.LatencyMsSum, latMax: r.LatencyMsMax, version: int64(r.Version),
	}
}

// taskState is the whole state of one task partial.
type taskState struct {
	key              taskKey
	sums             sums
	taskType, app    string
	minTime, maxTime int64 // unix seconds: stored as DateTime
	models           []string
	model1           [1]string // models of a one-model task, without an allocation
	// dims is the interned record of its last event's dimensions, a hint:
	// the task's next event most often has the same, and then, unless the
	// table of records has dropped the record since, the table is not
	// probed (see partition.process).
	dims     *dimsRec
	done     bool
	version  int64
	dirty    bool
	flushing bool
	touched  int64 // flush cycle of the last update, for eviction
}

func (s *taskState) add(e *priced, in *interner) {
	t := e.time / 1000
	if e.time < 0 && e.time%1000 != 0 {
		t--
	}
	if s.sums.requests == 0 {
		s.minTime, s.maxTime = t, t
		s.taskType, s.app = in.get(e.ev.TaskType), in.get(e.ev.App)
	}
	s.minTime, s.maxTime = min(s.minTime, t), max(s.maxTime, t)
	s.sums.add(e)
	if i, found := slices.BinarySearch(s.models, e.ev.Model); !found {
		if s.models == nil {
			s.models = s.model1[:0]
		}
		s.models = slices.Insert(s.models, i, in.get(e.ev.Model))
	}
	s.done = s.done || e.ev.TaskDone
	s.version = e.offset
}

func (s *taskState) row(p uint32) schemas.TaskRow {
	k, m := &s.key, &s.sums
	var done uint8
	if s.done {
		done = 1
	}
	return schemas.TaskRow{
		SrcPartition: p, Tenant: k.tenant, TaskID: k.taskID, WindowStart: time.UnixMilli(k.window).UTC(),
		TaskType: s.taskType, App: s.app, MinTime: time.Unix(s.minTime, 0).UTC(), MaxTime: time.Unix(s.maxTime, 0).UTC(),
		Requests: m.requests, InputTokens: m.input, OutputTokens: m.output, CacheReadTokens: m.cacheRead,
		CacheWriteTokens: m.cacheWrite, CacheWrite1hTokens: m.cacheWrite1h, ReasoningTokens: m.reasoning,
		CostNanos: m.cost, RefCostNanos: m.refCost, UnpricedRequests: m.unpriced,
		Models: slices.Clone(s.models), Done: done, Version: uint64(s.version),
	}
}

func taskFromRow(r *schemas.TaskRow) *taskState {
	return &taskState{
		key: taskKey{r.WindowStart.UnixMilli(), r.Tenant, r.TaskID},
		sums: sums{r.Requests, r.InputTokens, r.OutputTokens, r.CacheReadTokens, r.CacheWriteTokens, r.CacheWrite1hTokens,
			r.ReasoningTokens, r.UnpricedRequests, r.CostNanos, r.RefCostNanos},
		taskType: r.TaskType, app: r.App, minTime: r.MinTime.Unix(), maxTime: r.MaxTime.Unix(),
		models: r.Models, done: r.Done == 1, version: int64(r.Version),
	}
}
