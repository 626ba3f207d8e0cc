package alert

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// usageColumns are the dimensions of usage_rollup a scope may filter.
var usageColumns = map[string]bool{"tenant": true, "app": true, "task_type": true, "provider": true, "model": true}

// metricSQL is each metric as an aggregate over usage rows.
var metricSQL = map[string]string{
	"cost":              "sum(cost_nanos) / 1e9",
	"tokens":            "toFloat64(sum(input_tokens + output_tokens))",
	"requests":          "toFloat64(sum(requests))",
	"unpriced_requests": "toFloat64(sum(unpriced_requests))",
	"error_rate":        "if(sum(requests) = 0, 0, sumIf(requests, status = 'error') / sum(requests))",
}

// Querier reads figures from the rollup tables. Every query reads the
// tables with FINAL and the filters inside (ClickHouse 18.16 does not push
// a WHERE into a view), so a figure equals what the usage and tasks views
// give for the same range.
type Querier struct {
	Conn     driver.Conn
	DB       string
	UseDaily bool // read whole UTC days from usage_daily_rollup
}

// usageRows returns a subquery of the usage states in [from, to) (minute
// windows) in scope: whole UTC days from the day states when UseDaily, the
// edges from the minute states.
func (q *Querier) usageRows(from, to time.Time, scope string) string {
	cols := "window_start, tenant, app, task_type, provider, model, status, requests, input_tokens, output_tokens, cost_nanos, ref_cost_nanos, unpriced_requests"
	part := func(table string, a, b time.Time) string {
		return fmt.Sprintf("SELECT %s FROM %s.%s FINAL WHERE window_start >= toDateTime(%d) AND window_start < toDateTime(%d) AND %s",
			cols, q.DB, table, a.Unix(), b.Unix(), scope)
	}
	d1 := from.UTC().Truncate(24 * time.Hour)
	if d1.Before(from) {
		d1 = d1.Add(24 * time.Hour)
	}
	d2 := to.UTC().Truncate(24 * time.Hour)
	if !q.UseDaily || !d1.Before(d2) {
		return part("usage_rollup", from, to)
	}
	parts := []string{part("usage_daily_rollup", d1, d2)}
	if from.Before(d1) {
		parts = append(parts, part("usage_rollup", from, d1))
	}
	if d2.Before(to) {
		parts = append(parts, part("usage_rollup", d2, to))
	}
	return strings.Join(parts, " UNION ALL ")
}

// group is one group's labels and figure.
type group struct {
	labels map[string]string
	value  float64
	extra  []float64
}

// sums evaluates metric per group over [from, to).
func (q *Querier) sums(ctx context.Context, r *Rule, metric string, from, to time.Time) ([]group, error) {
	if metric == "cost_per_task" {
		return q.costPerTask(ctx, r, from, to)
	}
	sel := strings.Join(append(append([]string{}, r.GroupBy...), metricSQL[metric]), ", ")
	query := fmt.Sprintf("SELECT %s FROM (%s)", sel, q.usageRows(from, to, r.scope.sql(usageColumns)))
	if len(r.GroupBy) > 0 {
		query += " GROUP BY " + strings.Join(r.GroupBy, ", ")
	}
	return q.groups(ctx, query, r.GroupBy, 1)
}

// costPerTask is USD per task over the task partials whose window starts
// in [from, to): task windows, so the range is rounded to them.
func (q *Querier) costPerTask(ctx context.Context, r *Rule, from, to time.Time) ([]group, error) {
	sel := strings.Join(append(append([]string{}, r.GroupBy...), "if(uniqExact(tenant, task_id) = 0, 0, sum(cost_nanos) / 1e9 / uniqExact(tenant, task_id))"), ", ")
	query := fmt.Sprintf("SELECT %s FROM (SELECT tenant, task_id, app, task_type, cost_nanos FROM %s.task_rollup FINAL WHERE window_start >= toDateTime(%d) AND window_start < toDateTime(%d) AND %s)",
		sel, q.DB, from.Unix(), to.Unix(), r.scope.sql(map[string]bool{"tenant": true, "app": true, "task_type": true}))
	if len(r.GroupBy) > 0 {
		query += " GROUP BY " + strings.Join(r.GroupBy, ", ")
	}
	return q.groups(ctx, query, r.GroupBy, 1)
}

// groups runs a query whose columns are the group-by labels then nv floats.
func (q *Querier) groups(ctx context.Context, query string, by []string, nv int) ([]group, error) {
	rows, err := q.Conn.Query(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	var out []group
	for rows.Next() {
		vals := make([]string, len(by))
		nums := make([]float64, nv)
		ptrs := make([]any, 0, len(by)+nv)
		for i := range vals {
			ptrs = append(ptrs, &vals[i])
		}
		for i := range nums {
			ptrs = append(ptrs, &nums[i])
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
		g := group{labels: map[string]string{}, value: nums[0], extra: nums[1:]}
		for i, b := range by {
			g.labels[b] = vals[i]
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// spikeSums returns per group the value of [end-W, end) and the values of
// the n earlier windows [end-W-k*P, end-k*P), k = 1..n, in one query.
func (q *Querier) spikeSums(ctx context.Context, r *Rule, s *Spike, end time.Time) ([]group, error) {
	W, P := int64(time.Duration(s.Window).Seconds()), int64(time.Duration(s.Period).Seconds())
	E := end.Unix()
	from := time.Unix(E-int64(s.Periods)*P-W, 0)
	k := fmt.Sprintf("intDiv(%d - toInt64(toUInt32(window_start)) - 1, %d)", E, P)
	inWin := fmt.Sprintf("(%d - toInt64(toUInt32(window_start)) - 1) %% %d < %d", E, P, W)
	m := metricSQL[s.Metric]
	if m == "" {
		return nil, fmt.Errorf("spike metric %q is not supported", s.Metric)
	}
	inner := fmt.Sprintf("SELECT %s FROM (%s) WHERE %s GROUP BY %s",
		strings.Join(append(append([]string{}, r.GroupBy...), k+" AS k", m+" AS v"), ", "),
		q.usageRows(from, end, r.scope.sql(usageColumns)), inWin, strings.Join(append(append([]string{}, r.GroupBy...), "k"), ", "))
	sel := append(append([]string{}, r.GroupBy...), "sumIf(v, k = 0)", fmt.Sprintf("sumIf(v, k >= 1) / %d", s.Periods))
	query := fmt.Sprintf("SELECT %s FROM (%s)", strings.Join(sel, ", "), inner)
	if len(r.GroupBy) > 0 {
		query += " GROUP BY " + strings.Join(r.GroupBy, ", ")
	}
	return q.groups(ctx, query, r.GroupBy, 2)
}
