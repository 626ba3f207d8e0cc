package analytics

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// BenchYear shapes a synthetic year of rollups, generated inside ClickHouse
// (INSERT ... SELECT from numbers()), at a realistic cardinality: every
// minute holds RowsPerMinute distinct 1-minute states spread over the
// source partitions, models and task types, for tenants that rotate.
type BenchYear struct {
	Start         time.Time // 00:00 UTC of the first day
	MinuteRows    int64     // 1-minute usage states, default 50 million
	RowsPerMinute int64     // default 96: 12 partitions x 4 models x 2 task types
	Tenants       int64     // default 40
	TaskRows      int64     // task_rollup states, default 10 million
}

// DefaultBenchYear is a year from 2025-01-01 at 96 rows a minute: 50
// million minute rows cover 362 days.
func DefaultBenchYear() BenchYear {
	return BenchYear{Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), MinuteRows: 50_000_000, RowsPerMinute: 96, Tenants: 40, TaskRows: 10_000_000}
}

const benchChunk = 5_000_000

// Load fills the tables of db, unless they already hold the rows (a second
// run reuses them). progress reports each step.
func (b BenchYear) Load(ctx context.Context, conn driver.Conn, db string, progress func(string)) error {
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".usage_rollup").Scan(&n); err != nil {
		return fmt.Errorf("count minute rows: %w", err)
	}
	if int64(n) == b.MinuteRows {
		progress(fmt.Sprintf("reusing %d minute rows already loaded", n))
		return b.loadDerived(ctx, conn, db, progress)
	}
	for _, t := range []string{"usage_rollup", "usage_daily_rollup", "usage_monthly_rollup", "task_rollup", "task_days"} {
		if err := conn.Exec(ctx, "TRUNCATE TABLE "+db+"."+t); err != nil {
			return fmt.Errorf("truncate %s: %w", t, err)
		}
	}
	start := b.Start.Unix()
	for off := int64(0); off < b.MinuteRows; off += benchChunk {
		cnt := min(benchChunk, b.MinuteRows-off)
		// k = row within its minute: partition = k % 12, model = k / 12 % 4,
		// task type = k / 48 % 2, so the keys of a minute are distinct.
		q := fmt.Sprintf(`INSERT INTO %s.usage_rollup
 (src_partition, window_start, tenant, app, task_type, provider, model, operation, status, requests, input_tokens, output_tokens,
  cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, cost_nanos, ref_cost_nanos, unpriced_requests,
  latency_ms_sum, latency_ms_max, version, written_at)
SELECT toUInt32(k %% 12), toDateTime(%d + intDiv(n, %d) * 60), concat('tenant-', toString((intDiv(n, %d) * 7 + k) %% %d)), 'app',
 arrayElement(['agent-run', 'chat-turn'], toUInt32(intDiv(k, 48) %% 2) + 1), 'openai',
 arrayElement(['gpt-4o', 'gpt-4o-mini', 'o3-mini', 'gpt-4.1'], toUInt32(intDiv(k, 12) %% 4) + 1), 'chat', 'ok',
 1 + n %% 5, 1000 + n %% 5000, 100 + n %% 900, 300 + n %% 700, 0, 0, n %% 50,
 toInt64((1000 + n %% 5000) * 2500 + (100 + n %% 900) * 10000), toInt64((1000 + n %% 5000) * 5000 + (100 + n %% 900) * 15000), 0,
 500, 900, n, now()
FROM (SELECT number + %d AS n, (number + %d) %% %d AS k FROM numbers(%d))`,
			db, start, b.RowsPerMinute, b.RowsPerMinute, b.Tenants, off, off, b.RowsPerMinute, cnt)
		if err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("load minute rows %d..%d: %w", off, off+cnt, err)
		}
		progress(fmt.Sprintf("minute rows: %d of %d", off+cnt, b.MinuteRows))
	}
	// The matching day states, month by month: what the aggregator writes
	// beside its minutes.
	for m := 0; m < 13; m++ {
		from := b.Start.AddDate(0, m, 0)
		q := fmt.Sprintf(`INSERT INTO %s.usage_daily_rollup
 (src_partition, window_start, tenant, app, task_type, provider, model, operation, status, requests, input_tokens, output_tokens,
  cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, cost_nanos, ref_cost_nanos, unpriced_requests,
  latency_ms_sum, latency_ms_max, version, written_at)
SELECT src_partition, toStartOfDay(window_start) AS d, tenant, app, task_type, provider, model, operation, status,
 sum(requests), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(cache_write_1h_tokens),
 sum(reasoning_tokens), sum(cost_nanos), sum(ref_cost_nanos), sum(unpriced_requests), sum(latency_ms_sum), max(latency_ms_max), max(version), now()
FROM %s.usage_rollup WHERE window_start >= %s AND window_start < %s
GROUP BY src_partition, d, tenant, app, task_type, provider, model, operation, status`,
			db, db, ts(from), ts(from.AddDate(0, 1, 0)))
		if err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("derive day rows of %s: %w", from.Format("2006-01"), err)
		}
	}
	progress("day rows derived from the minutes")
	for off := int64(0); off < b.TaskRows; off += benchChunk {
		cnt := min(benchChunk, b.TaskRows-off)
		// Two hourly windows per task, ~TaskRows/2/362 tasks a day.
		perDay := max(1, b.TaskRows/2/362)
		q := fmt.Sprintf(`INSERT INTO %s.task_rollup
 (src_partition, tenant, task_id, window_start, task_type, app, min_time, max_time, requests, input_tokens, output_tokens,
  cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, cost_nanos, ref_cost_nanos, unpriced_requests,
  models, done, version, written_at)
SELECT toUInt32(t %% 12), concat('tenant-', toString(t %% %d)), concat('task-', toString(t)), w,
 arrayElement(['agent-run', 'chat-turn'], toUInt32(t %% 2) + 1), 'app', w + 60, w + 1800,
 2 + n %% 7, 3000 + n %% 9000, 300 + n %% 900, 0, 0, 0, 0, toInt64(n %% 90000000), toInt64(n %% 120000000), 0,
 [arrayElement(['gpt-4o', 'gpt-4o-mini', 'o3-mini', 'gpt-4.1'], toUInt32(t %% 4) + 1)], toUInt8(n %% 2), n, now()
FROM (SELECT n, t, toDateTime(%d + intDiv(t, %d) * 86400 + (t %% 20) * 3600 + (n %% 2) * 3600) AS w
      FROM (SELECT number + %d AS n, intDiv(number + %d, 2) AS t FROM numbers(%d)))`,
			db, b.Tenants, start, perDay, off, off, cnt)
		if err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("load task rows %d..%d: %w", off, off+cnt, err)
		}
		progress(fmt.Sprintf("task rows: %d of %d", off+cnt, b.TaskRows))
	}
	return b.loadDerived(ctx, conn, db, progress)
}

// loadDerived fills the month states from the day states when they are
// empty (a database loaded before month states existed reuses its rows).
// The task sets of task_days fill as task rows are inserted.
func (b BenchYear) loadDerived(ctx context.Context, conn driver.Conn, db string, progress func(string)) error {
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".usage_monthly_rollup").Scan(&n); err != nil {
		return fmt.Errorf("count month rows: %w", err)
	}
	if n == 0 {
		q := fmt.Sprintf(`INSERT INTO %s.usage_monthly_rollup
 (src_partition, window_start, tenant, app, task_type, provider, model, operation, status, requests, input_tokens, output_tokens,
  cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, cost_nanos, ref_cost_nanos, unpriced_requests,
  latency_ms_sum, latency_ms_max, version, written_at)
SELECT src_partition, toDateTime(toStartOfMonth(window_start), 'UTC') AS m, tenant, app, task_type, provider, model, operation, status,
 sum(requests), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(cache_write_1h_tokens),
 sum(reasoning_tokens), sum(cost_nanos), sum(ref_cost_nanos), sum(unpriced_requests), sum(latency_ms_sum), max(latency_ms_max), max(version), now()
FROM %s.usage_daily_rollup FINAL
GROUP BY src_partition, m, tenant, app, task_type, provider, model, operation, status`, db, db)
		if err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("derive month rows: %w", err)
		}
		progress("month rows derived from the days")
	}
	return nil
}

// Timing is one query's wall time, or its error.
type Timing struct {
	Query   string  `json:"query"`
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
}

// TimeReport runs each query of a report on its own, timing it to its last
// row; a failing query is recorded and the others still run. With
// usageOnly, only the queries that read the usage tables run (the task
// queries do not depend on the usage source). before, when not nil, runs
// untimed before each query; its error fails that query.
func (q *Querier) TimeReport(ctx context.Context, s Slice, periods []Period, usageOnly bool, before func() error) []Timing {
	steps := []struct {
		name string
		run  func() error
	}{
		{"usage per day, model and task type (totals, models, task types, unpriced)", func() error {
			_, err := q.usageDetail(ctx, s, periods)
			return err
		}},
		{"tasks per period", func() error { _, err := q.tasksByKey(ctx, s, periods, "", nil); return err }},
		{"tasks per period and model", func() error {
			_, err := q.tasksByKey(ctx, s, periods, "model", nil)
			return err
		}},
		{"tasks per period and task type", func() error { _, err := q.tasksByKey(ctx, s, periods, "task_type", nil); return err }},
		{"task statistics", func() error { _, err := q.taskStats(ctx, s, periods, nil); return err }},
		{"whole report (all of the above as `jevons report` runs them)", func() error { _, err := q.Query(ctx, s, periods); return err }},
	}
	out := make([]Timing, 0, len(steps))
	for _, st := range steps {
		if usageOnly && st.name[:5] != "usage" {
			continue
		}
		if before != nil {
			if err := before(); err != nil {
				out = append(out, Timing{Query: st.name, Error: err.Error()})
				continue
			}
		}
		t0 := time.Now()
		err := st.run()
		tm := Timing{Query: st.name, Seconds: time.Since(t0).Seconds()}
		if err != nil {
			tm.Error = err.Error()
		}
		out = append(out, tm)
	}
	return out
}
