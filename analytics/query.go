package analytics

import (
	"context"
	"encoding/json"
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
	// TaskLookback is how far before a period's start the per-task
	// statistics look for the earlier windows of its tasks.
	TaskLookback time.Duration
	// Cache keeps the task figures of past periods in report_cache and
	// reads them back while their table parts are the same (cache.go).
	Cache bool
	now   func() time.Time
}

// NewQuerier returns a Querier over database db.
func NewQuerier(conn driver.Conn, db string) *Querier {
	return &Querier{conn: conn, db: db, Source: MonthStates, TaskLookback: 7 * 24 * time.Hour, Cache: true, now: time.Now}
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

// periodExprDate maps a Date column of UTC days to the index of the period
// that holds the whole day (-1 outside).
func periodExprDate(col string, periods []Period) string {
	var b strings.Builder
	b.WriteString("toInt32(multiIf(")
	for i, p := range periods {
		fmt.Fprintf(&b, "%s >= toDate(%s) AND %s < toDate(%s), %d, ", col, quote(utcDayCeil(p.Start).Format(time.DateOnly)),
			col, quote(utcDayFloor(p.End).Format(time.DateOnly)), i)
	}
	b.WriteString("-1))")
	return b.String()
}

// taskRanges splits the periods into the whole UTC days they hold, read
// from task_days, and the rest (none unless a period starts or ends off a
// UTC midnight), read from the task windows; adjacent ranges merge.
func taskRanges(periods []Period) (days, rest [][2]time.Time) {
	add := func(out [][2]time.Time, from, to time.Time) [][2]time.Time {
		if !from.Before(to) {
			return out
		}
		if n := len(out); n > 0 && out[n-1][1].Equal(from) {
			out[n-1][1] = to
			return out
		}
		return append(out, [2]time.Time{from, to})
	}
	for _, p := range periods {
		a, b := utcDayCeil(p.Start), utcDayFloor(p.End)
		if !a.Before(b) {
			rest = add(rest, p.Start, p.End)
			continue
		}
		rest = add(rest, p.Start, a)
		days = add(days, a, b)
		rest = add(rest, b, p.End)
	}
	return days, rest
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
// task type or used that model. Past periods come from the cache while
// their days' parts are unchanged.
func (q *Querier) tasksByKey(ctx context.Context, s Slice, periods []Period, key string, providerModels []string) (map[string][]uint64, error) {
	tables := []string{"task_days"}
	if _, rest := taskRanges(periods); len(rest) > 0 {
		tables = append(tables, "task_rollup")
	}
	pc := q.openCache(ctx, "tasks by "+key, tables, 0, s, providerModels, periods)
	out := map[string][]uint64{}
	for i, payload := range pc.payload {
		if payload == nil {
			continue
		}
		var got map[string]uint64
		if err := json.Unmarshal(payload, &got); err != nil {
			return nil, fmt.Errorf("read cached tasks per period: %w", err)
		}
		for k, n := range got {
			if out[k] == nil {
				out[k] = make([]uint64, len(periods))
			}
			out[k][i] = n
		}
	}
	idx, todo := pc.misses(periods)
	if len(todo) == 0 {
		return out, nil
	}
	got, err := q.countTasks(ctx, s, todo, key, providerModels)
	if err != nil {
		return nil, err
	}
	values := make([]any, len(idx))
	for j, i := range idx {
		v := map[string]uint64{}
		for k, ns := range got {
			if ns[j] == 0 {
				continue
			}
			if out[k] == nil {
				out[k] = make([]uint64, len(periods))
			}
			out[k][i] = ns[j]
			v[k] = ns[j]
		}
		values[j] = v
	}
	pc.store(ctx, periods, idx, values)
	return out, nil
}

// countTasks counts distinct tasks with a request in each period, per key,
// from the day sets; periods are ascending, not necessarily contiguous.
func (q *Querier) countTasks(ctx context.Context, s Slice, periods []Period, key string, providerModels []string) (map[string][]uint64, error) {
	if key == "" {
		key = "''"
	}
	conds := taskDayConds(s, providerModels)
	days, rest := taskRanges(periods)
	var sql string
	if len(days) > 0 {
		var in []string
		for _, r := range days {
			in = append(in, "(day >= toDate("+quote(r[0].UTC().Format(time.DateOnly))+") AND day < toDate("+quote(r[1].UTC().Format(time.DateOnly))+"))")
		}
		w := append([]string{"(" + strings.Join(in, " OR ") + ")"}, conds...)
		sql = "SELECT " + periodExprDate("day", periods) + " AS p, " + key + " AS k, tasks FROM " + q.db + ".task_days WHERE " + strings.Join(w, " AND ")
	}
	if len(rest) > 0 {
		// The parts of periods that are not whole UTC days (a report in
		// another time zone): sets of the task windows starting there,
		// of the same type as task_days' (a window's tenant, app and task
		// type never change and its models only grow, so every version
		// gives the same members).
		var in []string
		for _, r := range rest {
			in = append(in, "(window_start >= "+ts(r[0])+" AND window_start < "+ts(r[1])+")")
		}
		w := append([]string{"(" + strings.Join(in, " OR ") + ")"}, conds...)
		windows := "SELECT " + periodExpr("window_start", periods) + " AS p, " + key + " AS k, uniqExactState(tenant, task_id) AS tasks FROM " +
			q.db + ".task_rollup ARRAY JOIN if(empty(models), [''], models) AS model WHERE " + strings.Join(w, " AND ") + " GROUP BY p, k"
		if sql != "" {
			sql += " UNION ALL "
		}
		sql += windows
	}
	sql = "SELECT p, k, toUInt64(uniqExactMerge(tasks)) FROM (" + sql + ") GROUP BY p, k"
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

// usageDetail reads the range once, per period, provider, model and task
// type: one pass over the states (FINAL is what costs), from which the
// report's totals, models, task types and unpriced models are all summed.
// Each part of the range is read from the coarsest states that fit it
// (usageRanges); a row belongs to the period holding its window start.
func (q *Querier) usageDetail(ctx context.Context, s Slice, periods []Period) ([]*usageCell, error) {
	var parts []string
	for _, r := range usageRanges(q.Source, periods) {
		src, at := q.db+"."+r.table+" FINAL", "window_start"
		switch r.table {
		case "usage":
			src = q.db + ".usage"
			fallthrough
		case "usage_rollup":
			// Minutes sum per UTC day when periods are whole UTC days, else
			// each row is read as the start of its period (a range of
			// minutes holds the ends of at most two periods).
			at = "toStartOfDay(window_start)"
			if !utcDays(periods) {
				at = periodStartExpr("window_start", overlapping(periods, r.from, r.to))
			}
		}
		parts = append(parts, "SELECT "+at+" AS at, provider, model, task_type, "+usageSums+" FROM "+src+
			" WHERE "+usageFilter(s, r.from, r.to)+" GROUP BY at, provider, model, task_type")
	}
	rows, err := q.conn.Query(ctx, strings.Join(parts, " UNION ALL "))
	if err != nil {
		return nil, fmt.Errorf("query usage per period: %w", err)
	}
	defer rows.Close()
	cells := map[[3]string]*usageCell{}
	var out []*usageCell
	for rows.Next() {
		var at time.Time
		var k [3]string
		var t Totals
		if err := rows.Scan(append([]any{&at, &k[0], &k[1], &k[2]}, totalsPtrs(&t)...)...); err != nil {
			return nil, fmt.Errorf("scan usage per period: %w", err)
		}
		i := periodIndex(periods, at)
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

// overlapping returns the periods that overlap [from, to).
func overlapping(periods []Period, from, to time.Time) []Period {
	var out []Period
	for _, p := range periods {
		if p.Start.Before(to) && p.End.After(from) {
			out = append(out, p)
		}
	}
	return out
}

// periodStartExpr maps a DateTime column to the start of its period among
// ps (ascending and contiguous; a value before the first is read as the
// first).
func periodStartExpr(col string, ps []Period) string {
	if len(ps) == 1 {
		return ts(ps[0].Start)
	}
	var b strings.Builder
	b.WriteString("multiIf(")
	for i := 1; i < len(ps); i++ {
		fmt.Fprintf(&b, "%s < %s, %s, ", col, ts(ps[i].Start), ts(ps[i-1].Start))
	}
	b.WriteString(ts(ps[len(ps)-1].Start) + ")")
	return b.String()
}

// usageRange is a time range read from one usage table or view.
type usageRange struct {
	table    string
	from, to time.Time
}

// usageRanges splits the periods' span by the table that answers each
// part: whole UTC calendar months from the month states (MonthStates),
// whole UTC days from the day states, and what is left of a period that
// does not start or end at a UTC midnight (a report in another time zone)
// from the 1-minute states; or everything from the 1-minute view
// (MinuteView).
func usageRanges(src Source, periods []Period) []usageRange {
	from, to := periods[0].Start, periods[len(periods)-1].End
	if src == MinuteView {
		return []usageRange{{"usage", from, to}}
	}
	var out []usageRange
	add := func(table string, from, to time.Time) {
		if !from.Before(to) {
			return
		}
		if n := len(out); n > 0 && out[n-1].table == table && out[n-1].to.Equal(from) {
			out[n-1].to = to
		} else {
			out = append(out, usageRange{table, from, to})
		}
	}
	for _, p := range periods {
		if src == MonthStates && wholeMonth(p) {
			add("usage_monthly_rollup", p.Start, p.End)
			continue
		}
		a, b := utcDayCeil(p.Start), utcDayFloor(p.End)
		if !a.Before(b) {
			add("usage_rollup", p.Start, p.End)
			continue
		}
		add("usage_rollup", p.Start, a)
		add("usage_daily_rollup", a, b)
		add("usage_rollup", b, p.End)
	}
	return out
}

// utcDays reports whether every period starts and ends at a UTC midnight.
func utcDays(periods []Period) bool {
	for _, p := range periods {
		if !utcDayFloor(p.Start).Equal(p.Start) || !utcDayFloor(p.End).Equal(p.End) {
			return false
		}
	}
	return true
}

// utcDayFloor is the UTC midnight at or before t; utcDayCeil the one at or
// after it.
func utcDayFloor(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func utcDayCeil(t time.Time) time.Time {
	f := utcDayFloor(t)
	if f.Equal(t) {
		return f
	}
	return f.AddDate(0, 0, 1)
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
