package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jevonsdev/jevons/ingest/loadgen"
	"github.com/jevonsdev/jevons/internal/itest"
	"github.com/jevonsdev/jevons/sink"
)

// TestTheREADMEsFirstCommandTellsTheStoryExactlyAndIdempotently runs
// deploy/local/demo as the README documents it, from a clean state, twice:
// each run must end with a report whose figures equal the scenario's truth,
// print both alerts as they arrive, and the second run must give the same
// report, never doubled. Then --down drops what it made.
func TestTheREADMEsFirstCommandTellsTheStoryExactlyAndIdempotently(t *testing.T) {
	addr := itest.ClickHouse(t)
	const db = "jevons_demotest"
	dir := filepath.Join(t.TempDir(), "demo")
	env := append(os.Environ(),
		"JEVONS_CLICKHOUSE="+addr, "JEVONS_DEMO_DATABASE="+db, "JEVONS_DEMO_DIR="+dir,
		// --down stops only a ClickHouse that services started in this
		// (empty) directory: never the one the tests use.
		"JEVONS_SERVICES_DIR="+t.TempDir())
	cfg := sink.DefaultConfig()
	cfg.Addr, cfg.Database = addr, db
	ctx := context.Background()
	conn, err := sink.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db) })

	runDemoScript := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("../../deploy/local/demo", args...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		t.Logf("deploy/local/demo %s: %.0fs", strings.Join(args, " "), time.Since(start).Seconds())
		if err != nil {
			t.Fatalf("deploy/local/demo %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	// A database with tables the demo did not make is never dropped.
	for _, q := range []string{"CREATE DATABASE " + db, "CREATE TABLE " + db + ".precious (x UInt8) ENGINE = TinyLog"} {
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	refuse := exec.Command("../../deploy/local/demo")
	refuse.Env = env
	if out, err := refuse.CombinedOutput(); err == nil || !strings.Contains(string(out), "tables that jevons demo did not make") {
		t.Errorf("the demo must refuse a database it did not make: err %v\n%s", err, out)
	}
	if err := conn.Exec(ctx, "DROP DATABASE "+db); err != nil {
		t.Fatal(err)
	}

	var reports [2][]byte
	for run := range 2 {
		out := runDemoScript()
		for _, want := range []string{
			"ALERT firing runaway-task", "ALERT firing jevons-paradox",
			"equal the scenario's truth", "Verdict: Usage growth outpaces unit-cost decline.",
			// 150 requests of gpt-4o at $2.50/$1.25/$10 per Mtok (input, cache read, output):
			// (2000 x 2.5 + 10000 x 1.25 + 350 x 10) / 1e6 = $0.021 each.
			"tasks view: demo-runaway has its 150 requests, $3.150000000",
			"The report: " + filepath.Join(dir, "report.html"),
		} {
			if !strings.Contains(out, want) {
				t.Errorf("run %d: output lacks %q:\n%s", run+1, want, out)
			}
		}
		if n := strings.Count(out, "ALERT firing runaway-task"); n != 1 {
			t.Errorf("run %d: runaway alert printed %d times, want once", run+1, n)
		}
		reports[run] = checkDemoReport(t, dir)
	}
	if !bytes.Equal(reports[0], reports[1]) {
		t.Errorf("the second run's report.json differs from the first's")
	}

	out := runDemoScript("--down")
	if !strings.Contains(out, "dropped database "+db) {
		t.Errorf("--down did not drop the database:\n%s", out)
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.databases WHERE name = ?", db).Scan(&n); err != nil || n != 0 {
		t.Errorf("after --down: database %s count %d (err %v), want 0", db, n, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("after --down: %s still exists (%v)", dir, err)
	}
}

// checkDemoReport compares the run's report.json with its truth.json and
// returns the report.
func checkDemoReport(t *testing.T, dir string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Periods []demoPeriod }
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	truth, err := loadgen.ReadTruth(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Periods) != loadgen.DefaultScenario().Months {
		t.Fatalf("report has %d periods, want %d months", len(doc.Periods), loadgen.DefaultScenario().Months)
	}
	var requests int64
	for _, p := range doc.Periods {
		requests += int64(p.Requests)
	}
	if requests != truth.Events || truth.Events == 0 {
		t.Errorf("report counts %d requests, truth %d", requests, truth.Events)
	}
	for _, b := range compareReport(doc.Periods, truth) {
		t.Error(b)
	}
	if fi, err := os.Stat(filepath.Join(dir, "report.html")); err != nil || fi.Size() < 10_000 {
		t.Errorf("report.html: %v, size %v", err, fi)
	}
	return raw
}

func TestCompareReportNamesEveryFigureThatDiffersFromTheTruth(t *testing.T) {
	truth := &loadgen.Truth{
		ByDay: map[string]*loadgen.Totals{
			"2026-01-05": {Requests: 3, InputTokens: 100, OutputTokens: 20, CostNanos: 500, RefCostNanos: 500},
			"2026-02-01": {Requests: 2, InputTokens: 50, OutputTokens: 10, CostNanos: 200, RefCostNanos: 300},
		},
		TasksByDay: map[string]int64{"2026-01-05": 1, "2026-02-01": 2},
	}
	ok := func() []demoPeriod {
		return []demoPeriod{
			{Start: "2026-01-01", End: "2026-01-31", Requests: 3, Tasks: 1, InputTokens: 100, OutputTokens: 20, CostNanos: 500, RefCostNanos: 500},
			{Start: "2026-02-01", End: "2026-02-28", Requests: 2, Tasks: 2, InputTokens: 50, OutputTokens: 10, CostNanos: 200, RefCostNanos: 300},
		}
	}
	if bad := compareReport(ok(), truth); len(bad) != 0 {
		t.Fatalf("equal figures reported as different: %v", bad)
	}
	doc := ok()
	doc[1].CostNanos = 201
	doc[0].Tasks = 2
	bad := compareReport(doc, truth)
	if len(bad) != 2 || !strings.Contains(strings.Join(bad, "\n"), "2026-02-01..2026-02-28 cost_nanos: report 201, truth 200") ||
		!strings.Contains(strings.Join(bad, "\n"), "2026-01-01..2026-01-31 tasks: report 2, truth 1") {
		t.Errorf("want the cost and the tasks named, got %v", bad)
	}
	doc = ok()
	doc = doc[:1]
	if bad := compareReport(doc, truth); len(bad) != 1 || !strings.Contains(bad[0], "2026-02-01 lies outside") {
		t.Errorf("a truth day outside the report must be named, got %v", bad)
	}
}
