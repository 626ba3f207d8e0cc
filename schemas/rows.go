package schemas

import "time"

// UsageRow is one row of usage_rollup: the whole state of one usage key
// (window and dimensions) for one source partition, up to offset Version.
type UsageRow struct {
	SrcPartition                                                           uint32
	WindowStart                                                            time.Time
	Tenant, App, TaskType, Provider, Model, Operation, Status              string
	Requests, InputTokens, OutputTokens, CacheReadTokens, CacheWriteTokens uint64
	CacheWrite1hTokens, ReasoningTokens                                    uint64
	CostNanos, RefCostNanos                                                int64
	UnpricedRequests, LatencyMsSum, LatencyMsMax                           uint64
	Version                                                                uint64
}

// UsageColumns lists usage_rollup's columns in the order of UsageCols.Columns,
// then written_at.
const UsageColumns = "src_partition, window_start, tenant, app, task_type, provider, model, operation, status, " +
	"requests, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, " +
	"cost_nanos, ref_cost_nanos, unpriced_requests, latency_ms_sum, latency_ms_max, version, written_at"

// Pointers returns pointers to the row's fields in UsageColumns order
// (without written_at), for scanning.
func (r *UsageRow) Pointers() []any {
	return []any{&r.SrcPartition, &r.WindowStart, &r.Tenant, &r.App, &r.TaskType, &r.Provider, &r.Model, &r.Operation, &r.Status,
		&r.Requests, &r.InputTokens, &r.OutputTokens, &r.CacheReadTokens, &r.CacheWriteTokens, &r.CacheWrite1hTokens, &r.ReasoningTokens,
		&r.CostNanos, &r.RefCostNanos, &r.UnpricedRequests, &r.LatencyMsSum, &r.LatencyMsMax, &r.Version}
}

// TaskRow is one row of task_rollup: the whole state of one task's partial
// for one task window and source partition, up to offset Version.
type TaskRow struct {
	SrcPartition                                                           uint32
	Tenant, TaskID                                                         string
	WindowStart                                                            time.Time
	TaskType, App                                                          string
	MinTime, MaxTime                                                       time.Time
	Requests, InputTokens, OutputTokens, CacheReadTokens, CacheWriteTokens uint64
	CacheWrite1hTokens, ReasoningTokens                                    uint64
	CostNanos, RefCostNanos                                                int64
	UnpricedRequests                                                       uint64
	Models                                                                 []string
	Done                                                                   uint8
	Version                                                                uint64
}

// TaskColumns lists task_rollup's columns in the order of TaskCols.Columns,
// then written_at.
const TaskColumns = "src_partition, tenant, task_id, window_start, task_type, app, min_time, max_time, " +
	"requests, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, " +
	"cost_nanos, ref_cost_nanos, unpriced_requests, models, done, version, written_at"

// Pointers returns pointers in TaskColumns order (without written_at).
func (r *TaskRow) Pointers() []any {
	return []any{&r.SrcPartition, &r.Tenant, &r.TaskID, &r.WindowStart, &r.TaskType, &r.App, &r.MinTime, &r.MaxTime,
		&r.Requests, &r.InputTokens, &r.OutputTokens, &r.CacheReadTokens, &r.CacheWriteTokens, &r.CacheWrite1hTokens, &r.ReasoningTokens,
		&r.CostNanos, &r.RefCostNanos, &r.UnpricedRequests, &r.Models, &r.Done, &r.Version}
}

// Checkpoint is a partition's progress, written after its rollup rows.
type Checkpoint struct {
	Group          string
	Topic          string
	Partition      uint32
	FlushedThrough int64  // every event below this offset is inside a written row
	ReplayFrom     int64  // where a restart replays from to rebuild the duplicate set
	ReplayMaxTime  int64  // the partition's max event time (unix ms) as of ReplayFrom
	DLQThrough     int64  // every dead letter below this offset has been written
	Catalog        string // fingerprint of the price catalog that priced the partition's events from CatalogFrom on
	CatalogFrom    int64  // the first offset priced with Catalog ("" and 0 in checkpoints written before it was recorded)
}

// CheckpointColumns lists consumer_checkpoints' columns in Values order.
const CheckpointColumns = "consumer_group, topic, partition, flushed_through, replay_from, replay_max_time, catalog, catalog_from, version, written_at"

// Values returns the row's values in CheckpointColumns order; the version
// is the flushed offset, so a newer checkpoint always wins.
func (c *Checkpoint) Values(writtenAt time.Time) []any {
	return []any{c.Group, c.Topic, c.Partition, c.FlushedThrough, c.ReplayFrom, c.ReplayMaxTime, c.Catalog, c.CatalogFrom, uint64(c.FlushedThrough), writtenAt}
}
