package analytics

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Series is one key's totals per period (a model, a task type).
type Series struct {
	Key    string   `json:"key"`
	Totals []Totals `json:"totals"`
}

// TaskStats describe the tasks of one task type that ended in one period,
// with their whole totals; tasks not yet done are counted apart.
type TaskStats struct {
	Ended         uint64  `json:"ended"`
	Running       uint64  `json:"running"`
	MeanTokens    float64 `json:"mean_tokens"`
	P50Tokens     float64 `json:"p50_tokens"`
	P95Tokens     float64 `json:"p95_tokens"`
	MeanRequests  float64 `json:"mean_requests"`
	P50Requests   float64 `json:"p50_requests"`
	P95Requests   float64 `json:"p95_requests"`
	MeanCostNanos float64 `json:"mean_cost_nanos"`
	P50CostNanos  float64 `json:"p50_cost_nanos"`
	P95CostNanos  float64 `json:"p95_cost_nanos"`
}

// TaskTypeSeries is a task type's totals and task statistics per period.
type TaskTypeSeries struct {
	TaskType string      `json:"task_type"`
	Totals   []Totals    `json:"totals"`
	Tasks    []TaskStats `json:"tasks"`
}

// UnpricedModel is a model whose requests had no price in the range.
type UnpricedModel struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
	Requests uint64 `json:"requests"`
	Tokens   uint64 `json:"tokens"`
}

// Result is everything a report shows for one slice over its periods.
type Result struct {
	Slice          Slice
	Periods        []Period
	Totals         []Totals // per period
	ByModel        []Series // key provider/model, by spend over the range
	ByTaskType     []TaskTypeSeries
	UnpricedModels []UnpricedModel
}

// Empty reports whether the slice had no requests in the range.
func (r *Result) Empty() bool {
	for _, t := range r.Totals {
		if t.Requests > 0 {
			return false
		}
	}
	return true
}

// Summary compares the first period with the last.
func (r *Result) Summary() Comparison {
	return Compare(r.Totals[0], r.Totals[len(r.Totals)-1])
}

// Query reads a slice's figures for the periods (contiguous, ascending).
func (q *Querier) Query(ctx context.Context, s Slice, periods []Period) (*Result, error) {
	if len(periods) == 0 {
		return nil, fmt.Errorf("no periods")
	}
	res := &Result{Slice: s, Periods: periods, Totals: make([]Totals, len(periods))}
	cells, err := q.usageDetail(ctx, s, periods)
	if err != nil {
		return nil, err
	}
	if t := sumCells(cells, len(periods), func(*usageCell) string { return "" })[""]; t != nil {
		res.Totals = t
	}
	res.ByModel = sortedSeries(sumCells(cells, len(periods), func(c *usageCell) string { return c.provider + "/" + c.model }))
	var providerModels []string
	for _, m := range res.ByModel {
		providerModels = append(providerModels, m.Key[strings.IndexByte(m.Key, '/')+1:])
	}
	if err := q.addTasks(ctx, res, providerModels); err != nil {
		return nil, err
	}
	byTaskType := sumCells(cells, len(periods), func(c *usageCell) string { return c.taskType })
	if err := q.addTaskTypes(ctx, res, byTaskType, providerModels); err != nil {
		return nil, err
	}
	res.UnpricedModels = unpricedOf(cells)
	return res, nil
}

func (q *Querier) addTasks(ctx context.Context, res *Result, providerModels []string) error {
	tasks, err := q.tasksByKey(ctx, res.Slice, res.Periods, "", providerModels)
	if err != nil {
		return err
	}
	for i, n := range tasks[""] {
		res.Totals[i].Tasks = n
	}
	// Tasks per model: the tasks that used the model.
	byModel, err := q.tasksByKey(ctx, res.Slice, res.Periods, "model", providerModels)
	if err != nil {
		return err
	}
	for _, m := range res.ByModel {
		name := m.Key[strings.IndexByte(m.Key, '/')+1:]
		for i, n := range byModel[name] {
			m.Totals[i].Tasks = n
		}
	}
	return nil
}

func (q *Querier) addTaskTypes(ctx context.Context, res *Result, usage map[string][]Totals, providerModels []string) error {
	tasks, err := q.tasksByKey(ctx, res.Slice, res.Periods, "task_type", providerModels)
	if err != nil {
		return err
	}
	stats, err := q.taskStats(ctx, res.Slice, res.Periods, providerModels)
	if err != nil {
		return err
	}
	for _, s := range sortedSeries(usage) {
		tt := TaskTypeSeries{TaskType: s.Key, Totals: s.Totals, Tasks: make([]TaskStats, len(res.Periods))}
		for i, n := range tasks[s.Key] {
			tt.Totals[i].Tasks = n
		}
		if st := stats[s.Key]; st != nil {
			tt.Tasks = st
		}
		res.ByTaskType = append(res.ByTaskType, tt)
	}
	return nil
}

// sortedSeries orders series by spend over all periods, largest first.
func sortedSeries(m map[string][]Totals) []Series {
	out := make([]Series, 0, len(m))
	for k, t := range m {
		out = append(out, Series{Key: k, Totals: t})
	}
	spend := func(s Series) (c int64) {
		for _, t := range s.Totals {
			c += t.CostNanos
		}
		return c
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := spend(out[i]), spend(out[j]); a != b {
			return a > b
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// taskStats describes, per period and task type, the tasks that ended in
// the period and counts those still running at its end. A period sees the
// task windows from TaskLookback before its start up to its end, never
// later ones, so its figures are final once its windows are: a task is in
// the period when one of its windows starts there, ended when a request in
// those windows marked it done, and its totals are over those windows. A
// task running across the end of a period is running in that period and
// ends in a later one. Past periods come from the cache while their parts
// are unchanged.
func (q *Querier) taskStats(ctx context.Context, s Slice, periods []Period, providerModels []string) (map[string][]TaskStats, error) {
	pc := q.openCache(ctx, "task statistics", []string{"task_rollup"}, q.TaskLookback, s, providerModels, periods)
	out := map[string][]TaskStats{}
	put := func(i int, byType map[string]TaskStats) {
		for tt, st := range byType {
			if out[tt] == nil {
				out[tt] = make([]TaskStats, len(periods))
			}
			out[tt][i] = st
		}
	}
	for i, payload := range pc.payload {
		if payload == nil {
			continue
		}
		var got map[string]TaskStats
		if err := json.Unmarshal(payload, &got); err != nil {
			return nil, fmt.Errorf("read cached task statistics: %w", err)
		}
		put(i, got)
	}
	idx, todo := pc.misses(periods)
	if len(todo) == 0 {
		return out, nil
	}
	got, err := q.computeTaskStats(ctx, s, todo, providerModels)
	if err != nil {
		return nil, err
	}
	values := make([]any, len(idx))
	for j, i := range idx {
		put(i, got[j])
		values[j] = got[j]
	}
	pc.store(ctx, periods, idx, values)
	return out, nil
}

// computeTaskStats runs the per-task statistics of each period (ascending,
// not necessarily contiguous) in one pass over the task windows: each
// window is counted in every period whose look-back range holds it (its
// own, and those starting within TaskLookback after it), then grouped per
// period and task.
func (q *Querier) computeTaskStats(ctx context.Context, s Slice, periods []Period, providerModels []string) ([]map[string]TaskStats, error) {
	inner := Slice{Tenant: s.Tenant}
	// FINAL reads every column named: app and models only when the slice
	// filters on them.
	cols, extra := "tenant, task_id, task_type, window_start, min_time, max_time, requests, input_tokens, output_tokens, cost_nanos, done", ""
	if s.App != "" {
		cols, extra = cols+", app", extra+", argMin(app, min_time) AS app"
	}
	if s.Model != "" || s.Provider != "" {
		cols, extra = cols+", models", extra+", groupUniqArrayArray(models) AS models"
	}
	// ClickHouse 18.16 runs one FINAL in one thread; one FINAL per month of
	// task windows (task_rollup's partition, so every version of a row is
	// in the same one) lets the branches of the UNION ALL run side by side.
	// The ranges read: each period's from TaskLookback before it, merged
	// where they overlap.
	var reads [][2]time.Time
	for _, p := range periods {
		lo := p.Start.Add(-q.TaskLookback)
		if n := len(reads); n > 0 && !lo.After(reads[n-1][1]) {
			if p.End.After(reads[n-1][1]) {
				reads[n-1][1] = p.End
			}
			continue
		}
		reads = append(reads, [2]time.Time{lo, p.End})
	}
	var finals []string
	for _, rd := range reads {
		for _, r := range monthRanges(rd[0], rd[1]) {
			finals = append(finals, "SELECT "+cols+" FROM "+q.db+".task_rollup FINAL WHERE "+taskFilter(inner, r[0], r[1], nil))
		}
	}
	starts, lows, ends := make([]string, len(periods)), make([]string, len(periods)), make([]string, len(periods))
	for i, p := range periods {
		starts[i], lows[i], ends[i] = ts(p.Start), ts(p.Start.Add(-q.TaskLookback)), ts(p.End)
	}
	lowArr, endArr, startArr := "["+strings.Join(lows, ", ")+"]", "["+strings.Join(ends, ", ")+"]", "["+strings.Join(starts, ", ")+"]"
	// A task is in a period when one of its windows starts there. (The
	// HAVING names window_start outside the lambda too: 18.16 drops a
	// column from a subquery when only a lambda uses it.)
	perTask := fmt.Sprintf(`SELECT p, tenant, task_id, argMin(task_type, min_time) AS task_type,
  max(max_time) AS last_seen, sum(requests) AS requests, sum(input_tokens + output_tokens) AS tokens,
  sum(cost_nanos) AS cost, max(done) AS done%s
 FROM (SELECT *, arrayJoin(arrayFilter(i -> window_start >= arrayElement(%s, i + 1) AND window_start < arrayElement(%s, i + 1), range(%d))) AS p
       FROM (%s))
 GROUP BY p, tenant, task_id
 HAVING max(window_start) >= arrayElement(%s, p + 1)`, extra, lowArr, endArr, len(periods), strings.Join(finals, " UNION ALL "), startArr)
	sql := `SELECT toInt32(p), task_type,
 toUInt64(countIf(done = 1)), toUInt64(countIf(done = 0)),
 toFloat64(avgIf(tokens, done = 1)), toFloat64(quantileExactIf(0.5)(tokens, done = 1)), toFloat64(quantileExactIf(0.95)(tokens, done = 1)),
 toFloat64(avgIf(requests, done = 1)), toFloat64(quantileExactIf(0.5)(requests, done = 1)), toFloat64(quantileExactIf(0.95)(requests, done = 1)),
 toFloat64(avgIf(cost, done = 1)), toFloat64(quantileExactIf(0.5)(cost, done = 1)), toFloat64(quantileExactIf(0.95)(cost, done = 1))
FROM (` + perTask + `)
WHERE ` + taskOuterFilter(s, providerModels) + `
GROUP BY p, task_type`
	rows, err := q.conn.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("query task statistics: %w", err)
	}
	defer rows.Close()
	out := make([]map[string]TaskStats, len(periods))
	for i := range out {
		out[i] = map[string]TaskStats{}
	}
	for rows.Next() {
		var p int32
		var tt string
		var st TaskStats
		if err := rows.Scan(&p, &tt, &st.Ended, &st.Running, &st.MeanTokens, &st.P50Tokens, &st.P95Tokens,
			&st.MeanRequests, &st.P50Requests, &st.P95Requests, &st.MeanCostNanos, &st.P50CostNanos, &st.P95CostNanos); err != nil {
			return nil, fmt.Errorf("scan task statistics: %w", err)
		}
		if p < 0 || int(p) >= len(periods) {
			continue
		}
		if st.Ended == 0 { // avg of nothing is nan
			st = TaskStats{Running: st.Running}
		}
		out[p][tt] = st
	}
	return out, rows.Err()
}

// monthRanges cuts [from, to) at the starts of UTC months.
func monthRanges(from, to time.Time) [][2]time.Time {
	var out [][2]time.Time
	for t := from; t.Before(to); {
		u := t.UTC()
		next := time.Date(u.Year(), u.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0)
		if next.After(to) {
			next = to
		}
		out = append(out, [2]time.Time{t, next})
		t = next
	}
	return out
}

// taskOuterFilter applies the slice (but the tenant, already applied) to
// whole tasks.
func taskOuterFilter(s Slice, providerModels []string) string {
	s.Tenant = ""
	w := taskConds(s, providerModels)
	if len(w) == 0 {
		return "1"
	}
	return strings.Join(w, " AND ")
}
