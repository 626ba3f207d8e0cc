package analytics

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jevonsdev/jevons/schemas"
)

// Every documented query of queries_analytics.sql runs on the real server
// over rows that exercise it, and the period-over-period query gives the
// same factors and verdict as Compare.
func TestDocumentedAnalyticsQueriesRun(t *testing.T) {
	conn, db := newDB(t)
	ctx := context.Background()
	jan, jun := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC)
	rows := []usageRow{
		{part: 0, window: jan, tenant: "acme", app: "a", taskType: "t", provider: "openai", model: "gpt-4o", requests: 10, input: 1_000_000, output: 100_000, cost: 3_500_000_000, ref: 3_500_000_000, version: 1},
		{part: 0, window: jun, tenant: "acme", app: "a", taskType: "t", provider: "openai", model: "gpt-4o", requests: 90, input: 9_000_000, output: 900_000, cost: 12_000_000_000, ref: 31_000_000_000, version: 2},
		{part: 1, window: jun, tenant: "acme", app: "a", taskType: "t", provider: "acme", model: "in-house", requests: 5, input: 5000, unpriced: 5, version: 3},
	}
	insertUsage(t, conn, db+".usage_daily_rollup", rows)
	insertUsage(t, conn, db+".usage_monthly_rollup", monthsOf(rows))
	insertTasks(t, conn, db+".task_rollup", []taskRow{
		{0, "acme", "run-1", "2026-01-10 10:00:00", "t", "a", "2026-01-10 10:05:00", "2026-01-10 10:50:00", 4, 1000, 100, 5000, 9000, []string{"gpt-4o"}, 1, 7},
	})
	text, err := schemas.ClickHouse.ReadFile("clickhouse/queries_analytics.sql")
	if err != nil {
		t.Fatal(err)
	}
	stmts := statements(string(text))
	if len(stmts) < 5 {
		t.Fatalf("%d statements", len(stmts))
	}
	for i, stmt := range stmts {
		r, err := conn.Query(ctx, strings.ReplaceAll(stmt, "${db}", db))
		if err != nil {
			t.Fatalf("documented query %d: %v\n%s", i+1, err, stmt)
		}
		n := 0
		for r.Next() {
			n++
		}
		if err := r.Err(); err != nil {
			t.Fatalf("documented query %d: %v", i+1, err)
		}
		r.Close()
		if i < 5 && n == 0 {
			t.Errorf("documented query %d returned no rows over data it covers", i+1)
		}
	}
	var uf, sf float64
	var verdict string
	q := strings.ReplaceAll(stmts[1], "${db}", db)
	if err := conn.QueryRow(ctx, "SELECT toFloat64(assumeNotNull(usage_factor)), toFloat64(assumeNotNull(spend_factor)), verdict FROM ("+q+")").Scan(&uf, &sf, &verdict); err != nil {
		t.Fatal(err)
	}
	c := Compare(rows[0].totals(), rows[1].totals().Add(rows[2].totals()))
	if !relClose(uf, c.UsageFactor.Value, 1e-12) || !relClose(sf, c.SpendFactor.Value, 1e-12) || verdict != string(c.Verdict) {
		t.Fatalf("SQL: usage %v spend %v %q; Compare: %v %v %q", uf, sf, verdict, c.UsageFactor.Value, c.SpendFactor.Value, c.Verdict)
	}
}

// statements splits a SQL file the way the migrations are split: comments
// dropped, statements end with ';' at the end of a line.
func statements(text string) []string {
	var body []string
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			body = append(body, l)
		}
	}
	var out []string
	for _, s := range strings.Split(strings.Join(body, "\n"), ";\n") {
		if s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), ";")); s != "" {
			out = append(out, s)
		}
	}
	return out
}
