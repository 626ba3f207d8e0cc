package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/analytics"
	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/sink"
)

// runBenchReport loads a synthetic year of rollups into ClickHouse and
// times every query of a monthly report over it: the usage queries through
// the 1-minute view (before day states) and the day states alone (before
// month states), then the whole report as it runs (month states for whole
// months) with the task figures computed, read back from report_cache, and
// read back but for the last month, changed by a new task window before
// each query (what a report of a live system does).
func runBenchReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench report", stderr)
	cfg := sink.DefaultConfig()
	cfg.Database = "jevons_bench_year"
	chSec := clickhouseFlags(fs, &cfg)
	year := analytics.DefaultBenchYear()
	fs.Int64Var(&year.MinuteRows, "rows", year.MinuteRows, "1-minute usage states to load (96 a minute)")
	fs.Int64Var(&year.TaskRows, "task-rows", year.TaskRows, "task states to load")
	runs := fs.Int("runs", 3, "runs of each query; the median is reported")
	before := fs.Bool("before", true, "also time the usage queries through the 1-minute usage view (one run each)")
	limit := fs.Duration("before-timeout", 2*time.Minute, "max_execution_time of a query through the 1-minute view")
	only := fs.String("variants", "days,computed,cached,changing", "which timings to run: days (usage from day states), computed (task figures computed), cached (read back from report_cache), changing (a new task window in the last month before each query)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := chSec.apply(); err != nil {
		return err
	}
	conn, err := sink.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	migs, err := sink.LoadMigrations(schemas.ClickHouse, "clickhouse")
	if err != nil {
		return err
	}
	if _, err := sink.MigrateCluster(ctx, conn, cfg.Database, cfg.Cluster, migs, zap.NewNop()); err != nil {
		return err
	}
	t0 := time.Now()
	if err := year.Load(ctx, conn, cfg.Database, func(s string) {
		fmt.Fprintf(stderr, "bench report: %s (%.0fs)\n", s, time.Since(t0).Seconds())
	}); err != nil {
		return err
	}
	end := year.Start.Add(time.Duration(year.MinuteRows/year.RowsPerMinute)*time.Minute).AddDate(0, 0, -1)
	periods, err := analytics.Periods(year.Start, end, analytics.Month)
	if err != nil {
		return err
	}
	// Each variant times every query of the report; the "before" ones the
	// usage queries only.
	type variant struct {
		name  string
		label string
		src   analytics.Source
		cache bool
		prep  func() error // before each timed query
	}
	var variants []variant
	if *before {
		variants = append(variants, variant{name: "minutes", label: "before: usage view over minutes", src: analytics.MinuteView})
	}
	lastMonth := periods[len(periods)-1]
	newWindow := 0
	variants = append(variants,
		variant{name: "days", label: "before: day states", src: analytics.DayStates},
		variant{name: "computed", label: "after: month states, task figures computed", src: analytics.MonthStates},
		variant{name: "cached", label: "after: month states, task figures of unchanged periods from report_cache", src: analytics.MonthStates, cache: true},
		variant{name: "changing", label: "after: month states and report_cache, a new task window in the last month before each query", src: analytics.MonthStates, cache: true,
			prep: func() error {
				newWindow++
				w := lastMonth.Start.Add(time.Duration(newWindow) * time.Hour)
				return conn.Exec(ctx, fmt.Sprintf(`INSERT INTO %s.task_rollup (src_partition, tenant, task_id, window_start, task_type, app,
 min_time, max_time, requests, input_tokens, output_tokens, cost_nanos, ref_cost_nanos, models, done, version, written_at)
 SELECT 0, 'tenant-7', 'bench-new-%d-%d', toDateTime(%d, 'UTC'), 'agent-run', 'app', toDateTime(%d, 'UTC'), toDateTime(%d, 'UTC'),
  1, 100, 10, 1000, 1000, ['gpt-4o'], 1, 1, now()`,
					cfg.Database, time.Now().UnixNano(), newWindow, w.Unix(), w.Unix()+60, w.Unix()+120))
			}},
	)
	enc := json.NewEncoder(stdout)
	want := map[string]bool{"minutes": true}
	for _, n := range strings.Split(*only, ",") {
		want[strings.TrimSpace(n)] = true
	}
	for _, v := range variants {
		if v.name != "" && !want[v.name] {
			continue
		}
		for _, s := range []analytics.Slice{{}, {Tenant: "tenant-7"}} {
			q := analytics.NewQuerier(conn, cfg.Database)
			q.Source, q.Cache = v.src, v.cache
			n, qctx := *runs, ctx
			if v.src == analytics.MinuteView {
				n = 1
				qctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_execution_time": int(limit.Seconds())}))
			}
			usageOnly := v.src != analytics.MonthStates
			if v.cache {
				// Fill the cache: one untimed report.
				if err := conn.Exec(ctx, "TRUNCATE TABLE "+cfg.Database+".report_cache"); err != nil {
					return err
				}
				q.TimeReport(ctx, s, periods, usageOnly, nil)
			}
			var all [][]analytics.Timing
			for range n {
				all = append(all, q.TimeReport(qctx, s, periods, usageOnly, v.prep))
			}
			for i, first := range all[0] {
				secs := make([]float64, len(all))
				for r := range all {
					secs[r] = all[r][i].Seconds
				}
				sort.Float64s(secs)
				if err := enc.Encode(map[string]any{
					"source": v.label,
					"slice":  s, "query": first.Query, "median_seconds": secs[len(secs)/2], "runs": len(secs), "error": first.Error,
					"minute_rows": year.MinuteRows, "months": len(periods),
				}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
