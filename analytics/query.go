package analytics

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Slice selects usage; an empty field means all.
type Slice struct {
	Tenant   string `json:"tenant,omitempty"`
	App      string `json:"app,omitempty"`
	TaskType string `json:"task_type,omitempty"`
	Provider string `json:"provider,omitempty"`
	Model    string `json:"model,omitempty"`
}

// Source is where period sums of usage are read from.
type Source int

const (
	// DayStates reads the day-window states (usage_daily_rollup FINAL)
	// only: a year is a few hundred thousand rows.
	DayStates Source = iota
	// MinuteView reads the 1-minute `usage` view, as before day states
	// existed; kept to measure the difference.
	MinuteView
	// MonthStates reads whole calendar months from the month-window states
	// (usage_monthly_rollup FINAL: a year is twelve days' worth of rows) and
	// every other period, or part of one, from the day states. What
	// reports use.
	MonthStates
)

// Querier reads the figures of the economics from ClickHouse. Every query
// reads the rollup tables with FINAL and the filters inside, because
// ClickHouse 18.16 does not push a WHERE into a view's GROUP BY.
type Querier struct {
	conn   driver.Conn
	db     string
	Source Source
	// TaskLookback is how far before a range the per-task query looks for
	// the earlier windows of tasks that end in the range.
	TaskLookback time.Duration
}

// NewQuerier returns a Querier over database db.
func NewQuerier(conn driver.Conn, db string) *Querier {
	return &Querier{conn: conn, db: db, Source: MonthStates, TaskLookback: 7 * 24 * time.Hour}
}

// quote renders a ClickHouse string literal.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(s) + "'"
}

func ts(t time.Time) string { return "toDateTime(" + quote(t.UTC().Format(time.DateTime)) + ", 'UTC')" }

// usageFilter is the WHERE of the usage tables for a range and a slice.
func usageFilter(s Slice, from, to time.Time) string {
	w := []string{"window_start >= " + ts(from), "window_start < " + ts(to)}
	for _, f := range []struct{ col, v string }{{"tenant", s.Tenant}, {"app", s.App}, {"task_type", s.TaskType}, {"provider", s.Provider}, {"model", s.Model}} {
		if f.v != "" {
			w = append(w, f.col+" = "+quote(f.v))
		}
	}
	return strings.Join(w, " AND ")
}

// usageSums are the columns scanned by scanTotals, in its order.
const usageSums = `toUInt64(sum(requests)), toUInt64(sum(input_tokens)), toUInt64(sum(output_tokens)),
 toUInt64(sum(cache_read_tokens)), toUInt64(sum(cache_write_tokens)), toUInt64(sum(cache_write_1h_tokens)),
 toUInt64(sum(reasoning_tokens)), toInt64(sum(cost_nanos)), toInt64(sum(ref_cost_nanos)),
 toUInt64(sum(unpriced_requests)), toUInt64(sumIf(input_tokens + output_tokens, unpriced_requests > 0))`

func totalsPtrs(t *Totals) []any {
	return []any{&t.Requests, &t.InputTokens, &t.OutputTokens, &t.CacheReadTokens, &t.CacheWriteTokens,
		&t.CacheWrite1hTokens, &t.ReasoningTokens, &t.CostNanos, &t.RefCostNanos, &t.UnpricedRequests, &t.UnpricedTokens}
}

// periodIndex returns the index of the period holding t, or -1.
func periodIndex(periods []Period, t time.Time) int {
	i := sort.Search(len(periods), func(i int) bool { return periods[i].End.After(t) })
	if i < len(periods) && !t.Before(periods[i].Start) {
		return i
	}
	return -1
}

// periodExpr maps a DateTime column to the index of its period (-1 outside).
func periodExpr(col string, periods []Period) string {
	var b strings.Builder
	b.WriteString("toInt32(multiIf(")
	for i, p := range periods {
		fmt.Fprintf(&b, "%s >= %s AND %s < %s, %d, ", col, ts(p.Start), col, ts(p.End), i)
	}
	b.WriteString("-1))")
	return b.String()
}

// taskConds are the conditions of a slice on task_rollup: tasks are kept by
// tenant, app and task type, and by the models they used (models holds
// model names; a provider is matched through its models in the range).
func taskConds(s Slice, providerModels []string) []string {
	var w []string
	for _, f := range []struct{ col, v string }{{"tenant", s.Tenant}, {"app", s.App}, {"task_type", s.TaskType}} {
		if f.v != "" {
			w = append(w, f.col+" = "+quote(f.v))
		}
	}
	if s.Model != "" {
		w = append(w, "has(models, "+quote(s.Model)+")")
	}
	if s.Provider != "" {
		if len(providerModels) == 0 {
			return append(w, "0")
		}
		qs := make([]string, len(providerModels))
		for i, m := range providerModels {
			qs[i] = quote(m)
		}
		w = append(w, "hasAny(models, ["+strings.Join(qs, ", ")+"])")
	}
	return w
}

// taskFilter is the WHERE of task_rollup for a range and a slice.
func taskFilter(s Slice, from, to time.Time, providerModels []string) string {
	w := append([]string{"window_start >= " + ts(from), "window_start < " + ts(to)}, taskConds(s, providerModels)...)
	return strings.Join(w, " AND ")
}

// periodExprDate maps a Date column to the index of its period (-1 outside).
func periodExprDate(col string, periods []Period) string {
	var b strings.Builder
	b.WriteString("toInt32(multiIf(")
	for i, p := range periods {
		fmt.Fprintf(&b, "%s >= toDate(%s) AND %s < toDate(%s), %d, ", col, quote(p.Start.UTC().Format(time.DateOnly)),
			col, quote(p.End.UTC().Format(time.DateOnly)), i)
	}
	b.WriteString("-1))")
	return b.String()
}

// taskDayConds are the conditions of a slice on task_days: by tenant, app
// and task type of the task windows, and by model (a provider through its
// models in the range).
func taskDayConds(s Slice, providerModels []string) []string {
	var w []string
	for _, f := range []struct{ col, v string }{{"tenant", s.Tenant}, {"app", s.App}, {"task_type", s.TaskType}, {"model", s.Model}} {
		if f.v != "" {
			w = append(w, f.col+" = "+quote(f.v))
		}
	}
	if s.Provider != "" {
		if len(providerModels) == 0 {
			return append(w, "0")
		}
		qs := make([]string, len(providerModels))
		for i, m := range providerModels {
			qs[i] = quote(m)
		}
		w = append(w, "model IN ("+strings.Join(qs, ", ")+")")
	}
	return w
}

// tasksByKey counts distinct tasks with a request in each period, per key
// (a task_days column, or "" for all): the union of the periods' day sets.
// A task is in a key's set when one of its windows in the period had that
// task type or used that model.
func (q *Querier) tasksByKey(ctx context.Context, s Slice, periods []Period, key string, providerModels []string) (map[string][]uint64, error) {
	from, to := periods[0].Start, periods[len(periods)-1].End
	if key == "" {
		key = "''"
	}
	w := append([]string{"day >= toDate(" + quote(from.UTC().Format(time.DateOnly)) + ")", "day < toDate(" + quote(to.UTC().Format(time.DateOnly)) + ")"},
		taskDayConds(s, providerModels)...)
	sql := "SELECT " + periodExprDate("day", periods) + " AS p, " + key + " AS k, toUInt64(uniqExactMerge(tasks))" +
		" FROM " + q.db + ".task_days WHERE " + strings.Join(w, " AND ") + " GROUP BY p, k"
	rows, err := q.conn.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("query tasks per period: %w", err)
	}
	defer rows.Close()
	out := map[string][]uint64{}
	for rows.Next() {
		var p int32
		var k string
		var n uint64
		if err := rows.Scan(&p, &k, &n); err != nil {
			return nil, fmt.Errorf("scan tasks per period: %w", err)
		}
		if p < 0 {
			continue
		}
		if out[k] == nil {
			out[k] = make([]uint64, len(periods))
		}
		out[k][p] += n
	}
	return out, rows.Err()
}

// usageCell is one (provider, model, task type) over the periods.
type usageCell struct {
	provider, model, taskType string
	totals                    []Totals
}

// usageDetail reads the range once, per day, provider, model and task type:
// one pass over the states (FINAL is what costs), from which the report's
// totals, models, task types and unpriced models are all summed. With
// MonthStates, whole months come as one row dated the 1st.
func (q *Querier) usageDetail(ctx context.Context, s Slice, periods []Period) ([]*usageCell, error) {
	cols := "SELECT toDate(window_start) AS d, provider, model, task_type, " + usageSums + " FROM "
	var parts []string
	for _, r := range usageRanges(q.Source, periods) {
		src := q.db + "." + r.table + " FINAL"
		if r.table == "usage" {
			src = q.db + ".usage"
		}
		parts = append(parts, cols+src+" WHERE "+usageFilter(s, r.from, r.to)+" GROUP BY d, provider, model, task_type")
	}
	rows, err := q.conn.Query(ctx, strings.Join(parts, " UNION ALL "))
	if err != nil {
		return nil, fmt.Errorf("query usage per day: %w", err)
	}
	defer rows.Close()
	cells := map[[3]string]*usageCell{}
	var out []*usageCell
	for rows.Next() {
		var d time.Time
		var k [3]string
		var t Totals
		if err := rows.Scan(append([]any{&d, &k[0], &k[1], &k[2]}, totalsPtrs(&t)...)...); err != nil {
			return nil, fmt.Errorf("scan usage per day: %w", err)
		}
		i := periodIndex(periods, time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC))
		if i < 0 {
			continue // cannot happen: the WHERE holds the range
		}
		c := cells[k]
		if c == nil {
			c = &usageCell{provider: k[0], model: k[1], taskType: k[2], totals: make([]Totals, len(periods))}
			cells[k] = c
			out = append(out, c)
		}
		c.totals[i] = c.totals[i].Add(t)
	}
	return out, rows.Err()
}

// usageRange is a time range read from one usage table or view.
type usageRange struct {
	table    string
	from, to time.Time
}

// usageRanges splits the periods' span by the table that answers each
// part: runs of whole calendar months from the month states, the rest from
// the day states (or everything from one source).
func usageRanges(src Source, periods []Period) []usageRange {
	from, to := periods[0].Start, periods[len(periods)-1].End
	switch src {
	case MinuteView:
		return []usageRange{{"usage", from, to}}
	case DayStates:
		return []usageRange{{"usage_daily_rollup", from, to}}
	}
	var out []usageRange
	for _, p := range periods {
		t := "usage_daily_rollup"
		if wholeMonth(p) {
			t = "usage_monthly_rollup"
		}
		if n := len(out); n > 0 && out[n-1].table == t && out[n-1].to.Equal(p.Start) {
			out[n-1].to = p.End
		} else {
			out = append(out, usageRange{t, p.Start, p.End})
		}
	}
	return out
}

// wholeMonth reports whether p is one whole UTC calendar month.
func wholeMonth(p Period) bool {
	s := p.Start.UTC()
	return s.Day() == 1 && s.Hour() == 0 && s.Minute() == 0 && s.Second() == 0 && s.Nanosecond() == 0 &&
		p.End.Equal(s.AddDate(0, 1, 0))
}

// sumCells adds the cells per key.
func sumCells(cells []*usageCell, n int, key func(*usageCell) string) map[string][]Totals {
	out := map[string][]Totals{}
	for _, c := range cells {
		k := key(c)
		if out[k] == nil {
			out[k] = make([]Totals, n)
		}
		for i, t := range c.totals {
			out[k][i] = out[k][i].Add(t)
		}
	}
	return out
}

// unpricedOf lists the models with unpriced requests, by provider and model.
func unpricedOf(cells []*usageCell) []UnpricedModel {
	byModel := map[[2]string]*UnpricedModel{}
	var out []UnpricedModel
	for _, c := range cells {
		for _, t := range c.totals {
			if t.UnpricedRequests == 0 {
				continue
			}
			k := [2]string{c.provider, c.model}
			if byModel[k] == nil {
				byModel[k] = &UnpricedModel{Provider: c.provider, Model: c.model}
			}
			byModel[k].Requests += t.UnpricedRequests
			byModel[k].Tokens += t.UnpricedTokens
		}
	}
	for _, u := range byModel {
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Provider != out[j].Provider {
			return out[i].Provider < out[j].Provider
		}
		return out[i].Model < out[j].Model
	})
	return out
}
