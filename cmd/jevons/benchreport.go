package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
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
// month states), and the whole report as it runs (month states for whole
// months).
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
	sources := []analytics.Source{analytics.DayStates, analytics.MonthStates}
	if *before {
		sources = append([]analytics.Source{analytics.MinuteView}, sources...)
	}
	label := map[analytics.Source]string{
		analytics.MinuteView:  "before: usage view over minutes",
		analytics.DayStates:   "before: day states",
		analytics.MonthStates: "after: month states for whole months",
	}
	enc := json.NewEncoder(stdout)
	for _, src := range sources {
		for _, s := range []analytics.Slice{{}, {Tenant: "tenant-7"}} {
			q := analytics.NewQuerier(conn, cfg.Database)
			q.Source = src
			n, qctx := *runs, ctx
			if src == analytics.MinuteView {
				n = 1
				qctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_execution_time": int(limit.Seconds())}))
			}
			var all [][]analytics.Timing
			for range n {
				all = append(all, q.TimeReport(qctx, s, periods, src != analytics.MonthStates))
			}
			for i, first := range all[0] {
				secs := make([]float64, len(all))
				for r := range all {
					secs[r] = all[r][i].Seconds
				}
				sort.Float64s(secs)
				if err := enc.Encode(map[string]any{
					"source": label[src],
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
