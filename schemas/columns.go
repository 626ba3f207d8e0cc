package schemas

import (
	"slices"
	"time"
)

// UsageCols holds usage rows column by column, in UsageColumns order, for
// column-wise inserts: no per-value boxing on the write path.
type UsageCols struct {
	part                                                              []uint32
	window, written                                                   []time.Time
	tenant, app, taskType, provider, model, operation, status         []string
	requests, input, output, cacheRead, cacheWrite, cacheWrite1h, rsn []uint64
	cost, refCost                                                     []int64
	unpriced, latSum, latMax, version                                 []uint64
}

// Grow makes room for n more rows, so that appends do not copy.
func (c *UsageCols) Grow(n int) {
	c.part = slices.Grow(c.part, n)
	c.window, c.written = slices.Grow(c.window, n), slices.Grow(c.written, n)
	for _, s := range []*[]string{&c.tenant, &c.app, &c.taskType, &c.provider, &c.model, &c.operation, &c.status} {
		*s = slices.Grow(*s, n)
	}
	for _, s := range []*[]uint64{&c.requests, &c.input, &c.output, &c.cacheRead, &c.cacheWrite, &c.cacheWrite1h, &c.rsn, &c.unpriced, &c.latSum, &c.latMax, &c.version} {
		*s = slices.Grow(*s, n)
	}
	c.cost, c.refCost = slices.Grow(c.cost, n), slices.Grow(c.refCost, n)
}

// Add appends one row.
func (c *UsageCols) Add(r *UsageRow, writtenAt time.Time) {
	c.part = append(c.part, r.SrcPartition)
	c.window = append(c.window, r.WindowStart)
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
	c.written = append(c.written, writtenAt)
}

// Len is the number of rows.
func (c *UsageCols) Len() int { return len(c.part) }

// Columns returns the column slices in UsageColumns order.
func (c *UsageCols) Columns() []any {
	return []any{c.part, c.window, c.tenant, c.app, c.taskType, c.provider, c.model, c.operation, c.status,
		c.requests, c.input, c.output, c.cacheRead, c.cacheWrite, c.cacheWrite1h, c.rsn,
		c.cost, c.refCost, c.unpriced, c.latSum, c.latMax, c.version, c.written}
}

// TaskCols holds task rows column by column, in TaskColumns order.
type TaskCols struct {
	part                                                              []uint32
	tenant, taskID, taskType, app                                     []string
	window, minTime, maxTime, written                                 []time.Time
	requests, input, output, cacheRead, cacheWrite, cacheWrite1h, rsn []uint64
	cost, refCost                                                     []int64
	unpriced, version                                                 []uint64
	models                                                            [][]string
	done                                                              []uint8
}

// Grow makes room for n more rows, so that appends do not copy.
func (c *TaskCols) Grow(n int) {
	c.part = slices.Grow(c.part, n)
	for _, s := range []*[]string{&c.tenant, &c.taskID, &c.taskType, &c.app} {
		*s = slices.Grow(*s, n)
	}
	for _, s := range []*[]time.Time{&c.window, &c.minTime, &c.maxTime, &c.written} {
		*s = slices.Grow(*s, n)
	}
	for _, s := range []*[]uint64{&c.requests, &c.input, &c.output, &c.cacheRead, &c.cacheWrite, &c.cacheWrite1h, &c.rsn, &c.unpriced, &c.version} {
		*s = slices.Grow(*s, n)
	}
	c.cost, c.refCost = slices.Grow(c.cost, n), slices.Grow(c.refCost, n)
	c.models, c.done = slices.Grow(c.models, n), slices.Grow(c.done, n)
}

// Add appends one row.
func (c *TaskCols) Add(r *TaskRow, writtenAt time.Time) {
	c.part = append(c.part, r.SrcPartition)
	c.tenant = append(c.tenant, r.Tenant)
	c.taskID = append(c.taskID, r.TaskID)
	c.window = append(c.window, r.WindowStart)
	c.taskType = append(c.taskType, r.TaskType)
	c.app = append(c.app, r.App)
	c.minTime = append(c.minTime, r.MinTime)
	c.maxTime = append(c.maxTime, r.MaxTime)
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
	c.written = append(c.written, writtenAt)
}

// Len is the number of rows.
func (c *TaskCols) Len() int { return len(c.part) }

// Columns returns the column slices in TaskColumns order.
func (c *TaskCols) Columns() []any {
	return []any{c.part, c.tenant, c.taskID, c.window, c.taskType, c.app, c.minTime, c.maxTime,
		c.requests, c.input, c.output, c.cacheRead, c.cacheWrite, c.cacheWrite1h, c.rsn,
		c.cost, c.refCost, c.unpriced, c.models, c.done, c.version, c.written}
}
