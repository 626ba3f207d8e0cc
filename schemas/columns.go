package schemas

import (
	"slices"
	"time"
)

// UsageCols holds usage rows column by column, in UsageColumns order, for
// column-wise inserts: no per-value boxing on the write path, and no row
// structs between a state and its insert. Times are unix seconds (what a
// DateTime column stores), so that only the string columns hold pointers
// for the garbage collector to follow. written_at is not held: the writer
// stamps it when it inserts.
type UsageCols struct {
	part                                                              []uint32
	window                                                            []int64
	tenant, app, taskType, provider, model, operation, status         []string
	requests, input, output, cacheRead, cacheWrite, cacheWrite1h, rsn []uint64
	cost, refCost                                                     []int64
	unpriced, latSum, latMax, version                                 []uint64
}

// UsageColsOf returns the rows as columns.
func UsageColsOf(rows ...UsageRow) UsageCols {
	var c UsageCols
	c.Grow(len(rows))
	for i := range rows {
		c.Add(&rows[i])
	}
	return c
}

// Grow makes room for n more rows, so that appends do not copy.
func (c *UsageCols) Grow(n int) {
	c.part, c.window = slices.Grow(c.part, n), slices.Grow(c.window, n)
	for _, s := range []*[]string{&c.tenant, &c.app, &c.taskType, &c.provider, &c.model, &c.operation, &c.status} {
		*s = slices.Grow(*s, n)
	}
	for _, s := range []*[]uint64{&c.requests, &c.input, &c.output, &c.cacheRead, &c.cacheWrite, &c.cacheWrite1h, &c.rsn, &c.unpriced, &c.latSum, &c.latMax, &c.version} {
		*s = slices.Grow(*s, n)
	}
	c.cost, c.refCost = slices.Grow(c.cost, n), slices.Grow(c.refCost, n)
}

// Add appends one row.
func (c *UsageCols) Add(r *UsageRow) {
	c.part = append(c.part, r.SrcPartition)
	c.window = append(c.window, r.WindowStart.Unix())
	c.tenant = append(c.tenant, r.Tenant)
	c.app = append(c.app, r.App)
	c.taskType = append(c.taskType, r.TaskType)
	c.provider = append(c.provider, r.Provider)
	c.model = append(c.model, r.Model)
	c.operation = append(c.operation, r.Operation)
	c.status = append(c.status, r.Status)
	c.requests = append(c.requests, r.Requests)
	c.input = append(c.input, r.InputTokens)
	c.output = append(c.output, r.OutputTokens)
	c.cacheRead = append(c.cacheRead, r.CacheReadTokens)
	c.cacheWrite = append(c.cacheWrite, r.CacheWriteTokens)
	c.cacheWrite1h = append(c.cacheWrite1h, r.CacheWrite1hTokens)
	c.rsn = append(c.rsn, r.ReasoningTokens)
	c.cost = append(c.cost, r.CostNanos)
	c.refCost = append(c.refCost, r.RefCostNanos)
	c.unpriced = append(c.unpriced, r.UnpricedRequests)
	c.latSum = append(c.latSum, r.LatencyMsSum)
	c.latMax = append(c.latMax, r.LatencyMsMax)
	c.version = append(c.version, r.Version)
}

// Row returns row i.
func (c *UsageCols) Row(i int) UsageRow {
	return UsageRow{
		SrcPartition: c.part[i], WindowStart: time.Unix(c.window[i], 0).UTC(), Tenant: c.tenant[i], App: c.app[i],
		TaskType: c.taskType[i], Provider: c.provider[i], Model: c.model[i], Operation: c.operation[i], Status: c.status[i],
		Requests: c.requests[i], InputTokens: c.input[i], OutputTokens: c.output[i], CacheReadTokens: c.cacheRead[i],
		CacheWriteTokens: c.cacheWrite[i], CacheWrite1hTokens: c.cacheWrite1h[i], ReasoningTokens: c.rsn[i],
		CostNanos: c.cost[i], RefCostNanos: c.refCost[i], UnpricedRequests: c.unpriced[i],
		LatencyMsSum: c.latSum[i], LatencyMsMax: c.latMax[i], Version: c.version[i],
	}
}

// Len is the number of rows.
func (c *UsageCols) Len() int { return len(c.part) }

// Columns returns the column slices in UsageColumns order, but written_at.
func (c *UsageCols) Columns() []any {
	return []any{c.part, c.window, c.tenant, c.app, c.taskType, c.provider, c.model, c.operation, c.status,
		c.requests, c.input, c.output, c.cacheRead, c.cacheWrite, c.cacheWrite1h, c.rsn,
		c.cost, c.refCost, c.unpriced, c.latSum, c.latMax, c.version}
}

// TaskCols holds task rows column by column, in TaskColumns order, times as
// unix seconds and without written_at (see UsageCols).
type TaskCols struct {
	part                                                              []uint32
	tenant, taskID, taskType, app                                     []string
	window, minTime, maxTime                                          []int64
	requests, input, output, cacheRead, cacheWrite, cacheWrite1h, rsn []uint64
	cost, refCost                                                     []int64
	unpriced, version                                                 []uint64
	models                                                            [][]string
	done                                                              []uint8
}

// TaskColsOf returns the rows as columns.
func TaskColsOf(rows ...TaskRow) TaskCols {
	var c TaskCols
	c.Grow(len(rows))
	for i := range rows {
		c.Add(&rows[i])
	}
	return c
}

// Grow makes room for n more rows, so that appends do not copy.
func (c *TaskCols) Grow(n int) {
	c.part = slices.Grow(c.part, n)
	for _, s := range []*[]string{&c.tenant, &c.taskID, &c.taskType, &c.app} {
		*s = slices.Grow(*s, n)
	}
	for _, s := range []*[]int64{&c.window, &c.minTime, &c.maxTime, &c.cost, &c.refCost} {
		*s = slices.Grow(*s, n)
	}
	for _, s := range []*[]uint64{&c.requests, &c.input, &c.output, &c.cacheRead, &c.cacheWrite, &c.cacheWrite1h, &c.rsn, &c.unpriced, &c.version} {
		*s = slices.Grow(*s, n)
	}
	c.models, c.done = slices.Grow(c.models, n), slices.Grow(c.done, n)
}

// Add appends one row. The row's Models become the column's: the caller
// must not change them afterwards.
func (c *TaskCols) Add(r *TaskRow) {
	c.part = append(c.part, r.SrcPartition)
	c.tenant = append(c.tenant, r.Tenant)
	c.taskID = append(c.taskID, r.TaskID)
	c.window = append(c.window, r.WindowStart.Unix())
	c.taskType = append(c.taskType, r.TaskType)
	c.app = append(c.app, r.App)
	c.minTime = append(c.minTime, r.MinTime.Unix())
	c.maxTime = append(c.maxTime, r.MaxTime.Unix())
	c.requests = append(c.requests, r.Requests)
	c.input = append(c.input, r.InputTokens)
	c.output = append(c.output, r.OutputTokens)
	c.cacheRead = append(c.cacheRead, r.CacheReadTokens)
	c.cacheWrite = append(c.cacheWrite, r.CacheWriteTokens)
	c.cacheWrite1h = append(c.cacheWrite1h, r.CacheWrite1hTokens)
	c.rsn = append(c.rsn, r.ReasoningTokens)
	c.cost = append(c.cost, r.CostNanos)
	c.refCost = append(c.refCost, r.RefCostNanos)
	c.unpriced = append(c.unpriced, r.UnpricedRequests)
	c.models = append(c.models, r.Models)
	c.done = append(c.done, r.Done)
	c.version = append(c.version, r.Version)
}

// Row returns row i; its Models are the column's.
func (c *TaskCols) Row(i int) TaskRow {
	return TaskRow{
		SrcPartition: c.part[i], Tenant: c.tenant[i], TaskID: c.taskID[i], WindowStart: time.Unix(c.window[i], 0).UTC(),
		TaskType: c.taskType[i], App: c.app[i], MinTime: time.Unix(c.minTime[i], 0).UTC(), MaxTime: time.Unix(c.maxTime[i], 0).UTC(),
		Requests: c.requests[i], InputTokens: c.input[i], OutputTokens: c.output[i], CacheReadTokens: c.cacheRead[i],
		CacheWriteTokens: c.cacheWrite[i], CacheWrite1hTokens: c.cacheWrite1h[i], ReasoningTokens: c.rsn[i],
		CostNanos: c.cost[i], RefCostNanos: c.refCost[i], UnpricedRequests: c.unpriced[i],
		Models: c.models[i], Done: c.done[i], Version: c.version[i],
	}
}

// Len is the number of rows.
func (c *TaskCols) Len() int { return len(c.part) }

// Columns returns the column slices in TaskColumns order, but written_at.
func (c *TaskCols) Columns() []any {
	return []any{c.part, c.tenant, c.taskID, c.window, c.taskType, c.app, c.minTime, c.maxTime,
		c.requests, c.input, c.output, c.cacheRead, c.cacheWrite, c.cacheWrite1h, c.rsn,
		c.cost, c.refCost, c.unpriced, c.models, c.done, c.version}
}
