package analytics

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/internal/itest"
	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/sink"
)

// newDB migrates a fresh database on the real ClickHouse.
func newDB(t *testing.T) (driver.Conn, string) {
	t.Helper()
	addr := itest.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := sink.DefaultConfig()
	cfg.Addr, cfg.Database = addr, fmt.Sprintf("jevons_analytics_%d", time.Now().UnixNano())
	conn, err := sink.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+cfg.Database)
		_ = conn.Close()
	})
	migs, err := sink.LoadMigrations(schemas.ClickHouse, "clickhouse")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Migrate(ctx, conn, cfg.Database, migs, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	return conn, cfg.Database
}

// usageRow is one state of the usage tables.
type usageRow struct {
	part                                   uint32
	window                                 time.Time
	tenant, app, taskType, provider, model string
	requests, input, output, cacheRead, cw uint64
	reasoning, unpriced                    uint64
	cost, ref                              int64
	version                                uint64
}

const usageCols = "src_partition, window_start, tenant, app, task_type, provider, model, operation, status, requests, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nanos, ref_cost_nanos, unpriced_requests, version"

func insertUsage(t *testing.T, conn driver.Conn, table string, rows []usageRow) {
	t.Helper()
	b, err := conn.PrepareBatch(context.Background(), "INSERT INTO "+table+" ("+usageCols+")")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := b.Append(r.part, r.window, r.tenant, r.app, r.taskType, r.provider, r.model, "chat", "ok",
			r.requests, r.input, r.output, r.cacheRead, r.cw, r.reasoning, r.cost, r.ref, r.unpriced, r.version); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// taskRow is one state of task_rollup.
type taskRow struct {
	part                    uint32
	tenant, id              string
	window                  string
	taskType, app           string
	minTime, maxTime        string
	requests, input, output uint64
	cost, ref               int64
	models                  []string
	done                    uint8
	version                 uint64
}

func insertTasks(t *testing.T, conn driver.Conn, table string, rows []taskRow) {
	t.Helper()
	b, err := conn.PrepareBatch(context.Background(), "INSERT INTO "+table+
		" (src_partition, tenant, task_id, window_start, task_type, app, min_time, max_time, requests, input_tokens, output_tokens, cost_nanos, ref_cost_nanos, models, done, version)")
	if err != nil {
		t.Fatal(err)
	}
	tm := func(s string) time.Time {
		v, err := time.Parse(time.DateTime, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, r := range rows {
		if err := b.Append(r.part, r.tenant, r.id, tm(r.window), r.taskType, r.app, tm(r.minTime), tm(r.maxTime),
			r.requests, r.input, r.output, r.cost, r.ref, r.models, r.done, r.version); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

func (r usageRow) totals() Totals {
	t := Totals{Requests: r.requests, InputTokens: r.input, OutputTokens: r.output, CacheReadTokens: r.cacheRead,
		CacheWriteTokens: r.cw, ReasoningTokens: r.reasoning, CostNanos: r.cost, RefCostNanos: r.ref, UnpricedRequests: r.unpriced}
	if r.unpriced > 0 {
		t.UnpricedTokens = t.Tokens()
	}
	return t
}

// On the real ClickHouse: period sums from the day states equal those from
// the minute view and the sums of the newest states, per slice, per model
// and per task type; stale versions never count.
func TestQueryReadsExactPeriodSums(t *testing.T) {
	conn, db := newDB(t)
	r := rand.New(rand.NewPCG(11, 12))
	models := [][2]string{{"openai", "gpt-4o"}, {"anthropic", "claude-haiku-4-5"}, {"acme", "in-house"}}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var minutes, days, stale []usageRow
	dayIndex := map[string]int{}
	for i := 0; i < 4000; i++ {
		m := models[r.IntN(len(models))]
		row := usageRow{part: uint32(r.IntN(4)), window: start.Add(time.Duration(r.IntN(70*24*60)) * time.Minute),
			tenant: fmt.Sprintf("t%d", r.IntN(3)), app: "app", taskType: []string{"review", "chat"}[r.IntN(2)],
			provider: m[0], model: m[1], requests: 1 + uint64(r.IntN(5)), input: uint64(r.IntN(100000)), output: uint64(r.IntN(5000)),
			version: uint64(100 + i)}
		row.cacheRead, row.reasoning = row.input/3, row.output/4
		if m[0] == "acme" {
			row.unpriced = row.requests
		} else {
			row.cost, row.ref = int64(row.input*2500+row.output*10000), int64(row.input*5000+row.output*15000)
		}
		// One state per minute key: a later draw of the same key replaces.
		minutes = append(minutes, row)
		old := row
		old.version, old.requests, old.cost = 1, 999, 1
		stale = append(stale, old)
		d := row
		d.window = d.window.Truncate(24 * time.Hour)
		k := fmt.Sprint(d.part, d.window, d.tenant, d.app, d.taskType, d.provider, d.model)
		if j, ok := dayIndex[k]; ok {
			x := &days[j]
			x.requests += d.requests
			x.input += d.input
			x.output += d.output
			x.cacheRead += d.cacheRead
			x.reasoning += d.reasoning
			x.cost += d.cost
			x.ref += d.ref
			x.unpriced += d.unpriced
			x.version = max(x.version, d.version)
			continue
		}
		dayIndex[k] = len(days)
		days = append(days, d)
	}
	// Minute keys must be unique for the sums to be the states' sums.
	seen := map[string]bool{}
	uniq := minutes[:0]
	for _, m := range minutes {
		k := fmt.Sprint(m.part, m.window, m.tenant, m.app, m.taskType, m.provider, m.model)
		if !seen[k] {
			seen[k] = true
			uniq = append(uniq, m)
		}
	}
	if len(uniq) != len(minutes) {
		t.Fatalf("draw repeated %d minute keys; change the seed", len(minutes)-len(uniq))
	}
	insertUsage(t, conn, db+".usage_rollup", stale)
	insertUsage(t, conn, db+".usage_rollup", minutes)
	staleDays := make([]usageRow, len(days))
	for i, d := range days {
		d.version, d.requests, d.cost = 0, 777, 3
		staleDays[i] = d
	}
	insertUsage(t, conn, db+".usage_daily_rollup", staleDays)
	insertUsage(t, conn, db+".usage_daily_rollup", days)
	months := monthsOf(minutes)
	staleMonths := make([]usageRow, len(months))
	for i, m := range months {
		m.version, m.requests, m.cost = 0, 555, 5
		staleMonths[i] = m
	}
	insertUsage(t, conn, db+".usage_monthly_rollup", months)
	insertUsage(t, conn, db+".usage_monthly_rollup", staleMonths)

	// UTC months (whole month states), and calendar periods of zones whose
	// midnights are not UTC ones: their ends come from the minutes.
	for _, cal := range []struct {
		tz string
		by Granularity
	}{{"UTC", Month}, {"America/New_York", Month}, {"Asia/Kolkata", Week}} {
		loc, err := time.LoadLocation(cal.tz)
		if err != nil {
			t.Fatal(err)
		}
		periods, err := PeriodsIn(start, start.AddDate(0, 0, 69), cal.by, loc)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(cal.tz, func(t *testing.T) { checkPeriodSums(t, conn, db, minutes, periods) })
	}
}

// checkPeriodSums compares the querier's period sums, per slice and model,
// from every source, with the sums of the minute states.
func checkPeriodSums(t *testing.T, conn driver.Conn, db string, minutes []usageRow, periods []Period) {
	ctx := context.Background()
	for _, s := range []Slice{{}, {Tenant: "t1"}, {Provider: "openai"}, {Model: "in-house"}, {Tenant: "t0", TaskType: "review"}, {Tenant: "nobody"}} {
		want := make([]Totals, len(periods))
		wantModel := map[string][]Totals{}
		for _, m := range minutes {
			if (s.Tenant != "" && m.tenant != s.Tenant) || (s.Provider != "" && m.provider != s.Provider) ||
				(s.Model != "" && m.model != s.Model) || (s.TaskType != "" && m.taskType != s.TaskType) {
				continue
			}
			i := periodIndex(periods, m.window)
			if i < 0 {
				continue
			}
			want[i] = want[i].Add(m.totals())
			k := m.provider + "/" + m.model
			if wantModel[k] == nil {
				wantModel[k] = make([]Totals, len(periods))
			}
			wantModel[k][i] = wantModel[k][i].Add(m.totals())
		}
		for _, src := range []Source{MonthStates, DayStates, MinuteView} {
			q := NewQuerier(conn, db)
			q.Source = src
			res, err := q.Query(ctx, s, periods)
			if err != nil {
				t.Fatal(err)
			}
			for i := range periods {
				if res.Totals[i] != want[i] {
					t.Errorf("slice %+v source %d period %d: got %+v, want %+v", s, src, i, res.Totals[i], want[i])
				}
			}
			if len(res.ByModel) != len(wantModel) {
				t.Errorf("slice %+v: %d models, want %d", s, len(res.ByModel), len(wantModel))
			}
			for _, m := range res.ByModel {
				for i := range periods {
					if m.Totals[i] != wantModel[m.Key][i] {
						t.Errorf("slice %+v model %s period %d: got %+v, want %+v", s, m.Key, i, m.Totals[i], wantModel[m.Key][i])
					}
				}
			}
			if s.Tenant == "nobody" != res.Empty() {
				t.Errorf("slice %+v: Empty() = %v", s, res.Empty())
			}
			var unpriced uint64
			for _, w := range want {
				unpriced += w.UnpricedRequests
			}
			if s.Model == "in-house" && (len(res.UnpricedModels) != 1 || res.UnpricedModels[0].Requests != unpriced) {
				t.Errorf("unpriced models %+v", res.UnpricedModels)
			}
		}
	}
}

// monthsOf sums minute states into month states, as the aggregator keeps
// them: per source partition and key, versioned by the newest minute.
func monthsOf(minutes []usageRow) []usageRow {
	var out []usageRow
	index := map[string]int{}
	for _, m := range minutes {
		m.window = time.Date(m.window.Year(), m.window.Month(), 1, 0, 0, 0, 0, time.UTC)
		k := fmt.Sprint(m.part, m.window, m.tenant, m.app, m.taskType, m.provider, m.model)
		j, ok := index[k]
		if !ok {
			index[k] = len(out)
			out = append(out, m)
			continue
		}
		x := &out[j]
		x.requests += m.requests
		x.input += m.input
		x.output += m.output
		x.cacheRead += m.cacheRead
		x.cw += m.cw
		x.reasoning += m.reasoning
		x.cost += m.cost
		x.ref += m.ref
		x.unpriced += m.unpriced
		x.version = max(x.version, m.version)
	}
	return out
}

// Tasks count once per period however many windows and versions they have;
// the per-task statistics take whole tasks that ended in the period.
func TestQueryCountsTasksAndTheirStatistics(t *testing.T) {
	conn, db := newDB(t)
	ctx := context.Background()
	g := []string{"gpt-4o"}
	insertTasks(t, conn, db+".task_rollup", []taskRow{
		// run-1: two hours in January, done; a stale version of its first window.
		{0, "acme", "run-1", "2026-01-10 10:00:00", "review", "app", "2026-01-10 10:05:00", "2026-01-10 10:50:00", 1, 0, 0, 1, 0, g, 0, 1},
		{0, "acme", "run-1", "2026-01-10 10:00:00", "review", "app", "2026-01-10 10:05:00", "2026-01-10 10:50:00", 4, 1000, 100, 5000, 9000, g, 0, 7},
		{0, "acme", "run-1", "2026-01-10 11:00:00", "review", "app", "2026-01-10 11:01:00", "2026-01-10 11:02:00", 2, 2000, 200, 7000, 9000, g, 1, 9},
		// run-2: starts on Jan 31, ends Feb 1: ended in February, whole totals.
		{3, "acme", "run-2", "2026-01-31 23:00:00", "review", "app", "2026-01-31 23:10:00", "2026-01-31 23:50:00", 3, 3000, 0, 3000, 9000, g, 0, 4},
		{3, "acme", "run-2", "2026-02-01 00:00:00", "review", "app", "2026-02-01 00:10:00", "2026-02-01 00:20:00", 1, 1000, 0, 1000, 9000, g, 1, 5},
		// run-3: February, still running, another model.
		{1, "beta", "run-3", "2026-02-03 08:00:00", "chat", "app", "2026-02-03 08:10:00", "2026-02-03 08:20:00", 2, 500, 50, 100, 200, []string{"claude-haiku-4-5"}, 0, 3},
	})
	periods, _ := Periods(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC), Month)
	q := NewQuerier(conn, db)
	for _, tt := range []struct {
		name  string
		slice Slice
		tasks []uint64
	}{
		{"all tasks: run-2 counts in both months it ran in", Slice{}, []uint64{2, 2}},
		{"a model's tasks", Slice{Model: "claude-haiku-4-5"}, []uint64{0, 1}},
		{"a provider's tasks through its models", Slice{Provider: "anthropic"}, []uint64{0, 0}},
		{"a task type's tasks", Slice{TaskType: "review"}, []uint64{2, 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := q.tasksByKey(ctx, tt.slice, periods, "", []string{})
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tt.tasks {
				var n uint64
				if got[""] != nil {
					n = got[""][i]
				}
				if n != want {
					t.Errorf("period %d: %d tasks, want %d", i, n, want)
				}
			}
		})
	}
	// New York's months: run-2's windows (18:00 and 19:00 on January 31
	// there) are both in January, the second one read from the task
	// windows of February 1's first UTC hours.
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	nyPeriods, _ := PeriodsIn(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC), Month, ny)
	for _, key := range []string{"", "task_type", "model"} {
		got, err := q.tasksByKey(ctx, Slice{}, nyPeriods, key, []string{})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]map[string][]uint64{
			"":          {"": {2, 1}},
			"task_type": {"review": {2, 0}, "chat": {0, 1}},
			"model":     {"gpt-4o": {2, 0}, "claude-haiku-4-5": {0, 1}},
		}[key]
		if !reflect.DeepEqual(got, want) {
			t.Errorf("New York months, tasks by %q: %v, want %v", key, got, want)
		}
	}
	stats, err := q.taskStats(ctx, Slice{}, periods, nil)
	if err != nil {
		t.Fatal(err)
	}
	review := stats["review"]
	if review[0].Ended != 1 || review[0].MeanTokens != 3300 || review[0].MeanCostNanos != 12000 || review[0].MeanRequests != 6 {
		t.Errorf("January review tasks %+v: want run-1 alone, 3300 tokens, 12000 nanos, 6 requests", review[0])
	}
	if review[1].Ended != 1 || review[1].MeanTokens != 4000 || review[1].P95CostNanos != 4000 {
		t.Errorf("February review tasks %+v: want run-2 whole, 4000 tokens, 4000 nanos", review[1])
	}
	if review[0].Running != 1 {
		t.Errorf("January review tasks %+v: want run-2 running at the end of January", review[0])
	}
	if chat := stats["chat"]; chat[1].Running != 1 || chat[1].Ended != 0 {
		t.Errorf("February chat tasks %+v: want one running", chat[1])
	}
}
