package aggregate

import (
	"slices"
	"time"

	"github.com/jevonsdev/jevons/schemas"
)

// usageKey identifies a usage rollup row within one source partition.
type usageKey struct {
	window                                                    int64
	tenant, app, taskType, provider, model, operation, status string
}

// taskKey identifies one task's partial within one task window.
type taskKey struct {
	window         int64
	tenant, taskID string
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

// usageState is the whole state of a usage key: every counted event of the
// partition for that key up to offset version.
type usageState struct {
	row   schemas.UsageRow
	dirty bool
}

func (s *usageState) add(e *priced) {
	r := &s.row
	u := &e.ev.Usage
	r.Requests++
	r.InputTokens += uint64(u.InputTokens)
	r.OutputTokens += uint64(u.OutputTokens)
	r.CacheReadTokens += uint64(u.CacheReadTokens)
	r.CacheWriteTokens += uint64(u.CacheWriteTokens)
	r.CacheWrite1hTokens += uint64(u.CacheWrite1hTokens)
	r.ReasoningTokens += uint64(u.ReasoningTokens)
	r.CostNanos += e.cost
	r.RefCostNanos += e.refCost
	if e.unpriced {
		r.UnpricedRequests++
	}
	l := uint64(e.ev.LatencyMs)
	r.LatencyMsSum += l
	r.LatencyMsMax = max(r.LatencyMsMax, l)
	r.Version = uint64(e.offset)
}

func newUsageState(p uint32, k usageKey) *usageState {
	return &usageState{row: schemas.UsageRow{
		SrcPartition: p, WindowStart: time.UnixMilli(k.window).UTC(), Tenant: k.tenant, App: k.app, TaskType: k.taskType,
		Provider: k.provider, Model: k.model, Operation: k.operation, Status: k.status,
	}}
}

func usageKeyOf(r *schemas.UsageRow) usageKey {
	return usageKey{r.WindowStart.UnixMilli(), r.Tenant, r.App, r.TaskType, r.Provider, r.Model, r.Operation, r.Status}
}

// taskState is the whole state of one task partial.
type taskState struct {
	row   schemas.TaskRow
	dirty bool
}

func (s *taskState) add(e *priced) {
	r := &s.row
	u := &e.ev.Usage
	t := time.UnixMilli(e.time).UTC().Truncate(time.Second) // stored as DateTime (seconds)
	if r.Requests == 0 || t.Before(r.MinTime) {
		r.MinTime = t
	}
	if r.Requests == 0 || t.After(r.MaxTime) {
		r.MaxTime = t
	}
	if r.Requests == 0 {
		r.TaskType, r.App = e.ev.TaskType, e.ev.App
	}
	r.Requests++
	r.InputTokens += uint64(u.InputTokens)
	r.OutputTokens += uint64(u.OutputTokens)
	r.CacheReadTokens += uint64(u.CacheReadTokens)
	r.CacheWriteTokens += uint64(u.CacheWriteTokens)
	r.CacheWrite1hTokens += uint64(u.CacheWrite1hTokens)
	r.ReasoningTokens += uint64(u.ReasoningTokens)
	r.CostNanos += e.cost
	r.RefCostNanos += e.refCost
	if e.unpriced {
		r.UnpricedRequests++
	}
	if i, found := slices.BinarySearch(r.Models, e.ev.Model); !found {
		r.Models = slices.Insert(r.Models, i, e.ev.Model)
	}
	if e.ev.TaskDone {
		r.Done = 1
	}
	r.Version = uint64(e.offset)
}

func newTaskState(p uint32, k taskKey) *taskState {
	return &taskState{row: schemas.TaskRow{SrcPartition: p, Tenant: k.tenant, TaskID: k.taskID, WindowStart: time.UnixMilli(k.window).UTC()}}
}

func taskKeyOf(r *schemas.TaskRow) taskKey {
	return taskKey{r.WindowStart.UnixMilli(), r.Tenant, r.TaskID}
}
