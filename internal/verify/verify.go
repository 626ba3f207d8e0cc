// Package verify compares the ClickHouse views with the exact truth that
// `jevons loadgen --truth` wrote, to the token and the nano-dollar.
package verify

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/jevonsdev/jevons/ingest/loadgen"
)

// Report lists the differences; an empty Mismatches means exact equality.
type Report struct {
	Events     int64    `json:"events"`
	Requests   int64    `json:"requests_in_views"`
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

// Compare checks the usage view's totals overall, per tenant and per model,
// and the tasks view per task, against the truth.
func Compare(ctx context.Context, conn driver.Conn, db string, truth *loadgen.Truth) (*Report, error) {
	rep := &Report{Events: truth.Events}
	var total loadgen.Totals
	row := conn.QueryRow(ctx, "SELECT "+sums+" FROM "+db+".usage")
	total, err := scanTotals(row.Scan)
	if err != nil {
		return nil, fmt.Errorf("query usage totals: %w", err)
	}
	rep.Requests = total.Requests
	if total != truth.Totals {
		rep.add("totals: views %+v, truth %+v", total, truth.Totals)
	}
	for _, dim := range []struct {
		name, expr string
		want       map[string]*loadgen.Totals
	}{
		{"tenant", "tenant", truth.ByTenant},
		{"model", "concat(provider, '/', model)", truth.ByModel},
	} {
		rows, err := conn.Query(ctx, "SELECT "+dim.expr+" AS k, "+sums+" FROM "+db+".usage GROUP BY k")
		if err != nil {
			return nil, fmt.Errorf("query usage by %s: %w", dim.name, err)
		}
		got := map[string]loadgen.Totals{}
		for rows.Next() {
			var k string
			t, err := scanTotals(rows.Scan, &k)
			if err != nil {
				rows.Close()
				return nil, err
			}
			got[k] = t
		}
		rows.Close()
		for _, k := range loadgen.Keys(dim.want) {
			if got[k] != *dim.want[k] {
				rep.add("%s %s: views %+v, truth %+v", dim.name, k, got[k], *dim.want[k])
			}
			delete(got, k)
		}
		for k := range got {
			rep.add("%s %s: in views, not in truth", dim.name, k)
		}
	}
	return rep, compareTasks(ctx, conn, db, truth, rep)
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
