// Package verify compares the ClickHouse views with the exact truth that
// `jevons loadgen --truth` wrote, to the token and the nano-dollar: the
// 1-minute view usage, the day view usage_daily and the month view
// usage_monthly (which must also equal the minute view summed per day, or
// month, and key), the tasks view and the task sets of task_days (which
// must hold every task, and per day and key the tasks of task_rollup).
package verify

import (
	"context"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/jevonsdev/jevons/ingest/loadgen"
)

// Report lists the differences; an empty Mismatches means exact equality.
type Report struct {
	Events     int64    `json:"events"`
	Requests   int64    `json:"requests_in_views"`
	Daily      int64    `json:"requests_in_daily_view"`
	Monthly    int64    `json:"requests_in_monthly_view"`
	Tasks      int      `json:"tasks_in_view"`
	Mismatches []string `json:"mismatches"`
}

const maxMismatches = 20

func (r *Report) add(format string, args ...any) {
	if len(r.Mismatches) < maxMismatches {
		r.Mismatches = append(r.Mismatches, fmt.Sprintf(format, args...))
	}
}

const sums = `toInt64(sum(requests)), toInt64(sum(input_tokens)), toInt64(sum(output_tokens)), toInt64(sum(cache_read_tokens)),
 toInt64(sum(cache_write_tokens)), toInt64(sum(cache_write_1h_tokens)), toInt64(sum(reasoning_tokens)),
 toInt64(sum(cost_nanos)), toInt64(sum(ref_cost_nanos)), toInt64(sum(unpriced_requests)), toInt64(sum(latency_ms_sum))`

func scanTotals(scan func(...any) error, prefix ...any) (loadgen.Totals, error) {
	var t loadgen.Totals
	ptrs := append(prefix, &t.Requests, &t.InputTokens, &t.OutputTokens, &t.CacheReadTokens, &t.CacheWriteTokens,
		&t.CacheWrite1hTokens, &t.ReasoningTokens, &t.CostNanos, &t.RefCostNanos, &t.UnpricedRequests, &t.LatencyMsSum)
	return t, scan(ptrs...)
}

// Compare checks the usage, usage_daily and usage_monthly views' totals
// overall, per tenant and per model, each day of usage_daily and each month
// of usage_monthly against the minute view, and the tasks view per task,
// against the truth.
func Compare(ctx context.Context, conn driver.Conn, db string, truth *loadgen.Truth) (*Report, error) {
	rep := &Report{Events: truth.Events}
	for _, view := range []struct {
		name     string
		requests *int64
	}{{"usage", &rep.Requests}, {"usage_daily", &rep.Daily}, {"usage_monthly", &rep.Monthly}} {
		n, err := compareUsage(ctx, conn, db, view.name, truth, rep)
		if err != nil {
			return nil, err
		}
		*view.requests = n
	}
	if err := compareCoarser(ctx, conn, db, "usage_daily", "day", "toDate(window_start)", rep); err != nil {
		return nil, err
	}
	if err := compareCoarser(ctx, conn, db, "usage_monthly", "month", "toStartOfMonth(window_start)", rep); err != nil {
		return nil, err
	}
	if err := compareTasks(ctx, conn, db, truth, rep); err != nil {
		return nil, err
	}
	return rep, compareTaskDays(ctx, conn, db, truth, rep)
}

// compareTaskDays requires the union of task_days to hold as many tasks as
// the truth, and each day and key's set to count the distinct tasks of
// task_rollup's windows of that day and key.
func compareTaskDays(ctx context.Context, conn driver.Conn, db string, truth *loadgen.Truth, rep *Report) error {
	var all uint64
	if err := conn.QueryRow(ctx, "SELECT toUInt64(uniqExactMerge(tasks)) FROM "+db+".task_days").Scan(&all); err != nil {
		return fmt.Errorf("query task_days: %w", err)
	}
	if int(all) != len(truth.Tasks) {
		rep.add("task_days: %d tasks, truth %d", all, len(truth.Tasks))
	}
	count := func(q string) (map[string]uint64, error) {
		rows, err := conn.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		out := map[string]uint64{}
		for rows.Next() {
			var k string
			var n uint64
			if err := rows.Scan(&k, &n); err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, rows.Err()
	}
	key := "concat(toString(day), '/', tenant, '/', app, '/', task_type, '/', model)"
	windows, err := count("SELECT " + key + " AS k, toUInt64(uniqExact(tenant, task_id)) FROM (SELECT toDate(window_start) AS day, tenant, task_id, app, task_type," +
		" arrayJoin(if(empty(models), [''], models)) AS model FROM " + db + ".task_rollup) GROUP BY k")
	if err != nil {
		return fmt.Errorf("query task_rollup by day: %w", err)
	}
	sets, err := count("SELECT " + key + " AS k, toUInt64(uniqExactMerge(tasks)) FROM " + db + ".task_days GROUP BY k")
	if err != nil {
		return fmt.Errorf("query task_days by day: %w", err)
	}
	for k, n := range windows {
		if sets[k] != n {
			rep.add("task_days %s: %d tasks, its task windows hold %d", k, sets[k], n)
		}
		delete(sets, k)
	}
	for k, n := range sets {
		rep.add("task_days %s: %d tasks, no task windows", k, n)
	}
	return nil
}

// compareUsage checks one usage view against the truth and returns the
// requests it holds.
func compareUsage(ctx context.Context, conn driver.Conn, db, view string, truth *loadgen.Truth, rep *Report) (int64, error) {
	row := conn.QueryRow(ctx, "SELECT "+sums+" FROM "+db+"."+view)
	total, err := scanTotals(row.Scan)
	if err != nil {
		return 0, fmt.Errorf("query %s totals: %w", view, err)
	}
	if total != truth.Totals {
		rep.add("%s totals: view %+v, truth %+v", view, total, truth.Totals)
	}
	for _, dim := range []struct {
		name, expr string
		want       map[string]*loadgen.Totals
	}{
		{"tenant", "tenant", truth.ByTenant},
		{"model", "concat(provider, '/', model)", truth.ByModel},
	} {
		rows, err := conn.Query(ctx, "SELECT "+dim.expr+" AS k, "+sums+" FROM "+db+"."+view+" GROUP BY k")
		if err != nil {
			return 0, fmt.Errorf("query %s by %s: %w", view, dim.name, err)
		}
		got := map[string]loadgen.Totals{}
		for rows.Next() {
			var k string
			t, err := scanTotals(rows.Scan, &k)
			if err != nil {
				rows.Close()
				return 0, err
			}
			got[k] = t
		}
		rows.Close()
		for _, k := range loadgen.Keys(dim.want) {
			if got[k] != *dim.want[k] {
				rep.add("%s %s %s: view %+v, truth %+v", view, dim.name, k, got[k], *dim.want[k])
			}
			delete(got, k)
		}
		for k := range got {
			rep.add("%s %s %s: in view, not in truth", view, dim.name, k)
		}
	}
	return total.Requests, nil
}

// compareCoarser requires every row of a coarser view (usage_daily,
// usage_monthly; its date column col) to equal the minute view summed over
// its window (the minute's window start through start) and key, and no key
// on one side only. The truth has no per-day figures; the minute view,
// checked against the truth above, stands in for them.
func compareCoarser(ctx context.Context, conn driver.Conn, db, view, col, start string, rep *Report) error {
	minutes, err := dayRows(ctx, conn, "SELECT toString("+start+") AS d, tenant, app, task_type, provider, model, operation, status, "+sums+
		", toInt64(max(latency_ms_max)) FROM "+db+".usage GROUP BY d, tenant, app, task_type, provider, model, operation, status")
	if err != nil {
		return fmt.Errorf("query usage by %s: %w", col, err)
	}
	coarse, err := dayRows(ctx, conn, "SELECT toString("+col+") AS d, tenant, app, task_type, provider, model, operation, status, "+sums+
		", toInt64(max(latency_ms_max)) FROM "+db+"."+view+" GROUP BY d, tenant, app, task_type, provider, model, operation, status")
	if err != nil {
		return fmt.Errorf("query %s: %w", view, err)
	}
	for k, m := range minutes {
		if d, ok := coarse[k]; !ok {
			rep.add("%s %s: missing; its minutes hold %+v", view, k, m)
		} else if d != m {
			rep.add("%s %s: %+v, its minutes sum to %+v", view, k, d, m)
		}
		delete(coarse, k)
	}
	for k, d := range coarse {
		rep.add("%s %s: %+v, no minutes", view, k, d)
	}
	return nil
}

// dayTotals are one day key's sums and its latency maximum.
type dayTotals struct {
	loadgen.Totals
	LatencyMsMax int64
}

func dayRows(ctx context.Context, conn driver.Conn, q string) (map[string]dayTotals, error) {
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]dayTotals{}
	for rows.Next() {
		var k [8]string
		var d dayTotals
		t, err := scanTotals(func(ptrs ...any) error { return rows.Scan(append(ptrs, &d.LatencyMsMax)...) },
			&k[0], &k[1], &k[2], &k[3], &k[4], &k[5], &k[6], &k[7])
		if err != nil {
			return nil, err
		}
		d.Totals = t
		out[strings.Join(k[:], "/")] = d
	}
	return out, rows.Err()
}

func compareTasks(ctx context.Context, conn driver.Conn, db string, truth *loadgen.Truth, rep *Report) error {
	rows, err := conn.Query(ctx, "SELECT concat(tenant, '/', task_id), toInt64(requests), toInt64(input_tokens + output_tokens), cost_nanos, done FROM "+db+".tasks")
	if err != nil {
		return fmt.Errorf("query tasks: %w", err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var k string
		var t loadgen.TaskTotals
		var done uint8
		if err := rows.Scan(&k, &t.Requests, &t.Tokens, &t.CostNanos, &done); err != nil {
			return fmt.Errorf("query tasks: %w", err)
		}
		t.Done = done == 1
		rep.Tasks++
		want, ok := truth.Tasks[k]
		switch {
		case !ok:
			rep.add("task %s: in view, not in truth", k)
		case *want != t:
			rep.add("task %s: view %+v, truth %+v", k, t, *want)
		default:
			seen++
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if rep.Tasks != len(truth.Tasks) {
		rep.add("tasks: %d in view, %d in truth", rep.Tasks, len(truth.Tasks))
	}
	return nil
}
