package analytics

import (
	"context"
	"reflect"
	"testing"
	"time"
)

// figures are the task figures a report reads, for comparing a cached run
// with a computed one.
type figures struct {
	Tasks, ByModel, ByTaskType map[string][]uint64
	Stats                      map[string][]TaskStats
}

func readFigures(t *testing.T, q *Querier, s Slice, periods []Period) figures {
	t.Helper()
	ctx := context.Background()
	var f figures
	var err error
	if f.Tasks, err = q.tasksByKey(ctx, s, periods, "", nil); err != nil {
		t.Fatal(err)
	}
	if f.ByModel, err = q.tasksByKey(ctx, s, periods, "model", nil); err != nil {
		t.Fatal(err)
	}
	if f.ByTaskType, err = q.tasksByKey(ctx, s, periods, "task_type", nil); err != nil {
		t.Fatal(err)
	}
	if f.Stats, err = q.taskStats(ctx, s, periods, nil); err != nil {
		t.Fatal(err)
	}
	return f
}

func cachedRows(t *testing.T, q *Querier) uint64 {
	t.Helper()
	var n uint64
	if err := q.conn.QueryRow(context.Background(), "SELECT count() FROM "+q.db+".report_cache").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A cached period returns what computing it again returns, also after new
// task windows land in it (a late correction, a new version of a window):
// the new parts make the cached row unreadable.
func TestCachedTaskFiguresAreTheComputedOnesAfterEveryChange(t *testing.T) {
	conn, db := newDB(t)
	g := []string{"gpt-4o"}
	insertTasks(t, conn, db+".task_rollup", []taskRow{
		{0, "acme", "run-1", "2026-01-10 10:00:00", "review", "app", "2026-01-10 10:05:00", "2026-01-10 10:50:00", 4, 1000, 100, 5000, 9000, g, 1, 7},
		{3, "acme", "run-2", "2026-01-31 23:00:00", "review", "app", "2026-01-31 23:10:00", "2026-01-31 23:50:00", 3, 3000, 0, 3000, 9000, g, 0, 4},
		{3, "acme", "run-2", "2026-02-01 00:00:00", "review", "app", "2026-02-01 00:10:00", "2026-02-01 00:20:00", 1, 1000, 0, 1000, 9000, g, 1, 5},
		{1, "beta", "run-3", "2026-03-03 08:00:00", "chat", "app", "2026-03-03 08:10:00", "2026-03-03 08:20:00", 2, 500, 50, 100, 200, []string{"claude-haiku-4-5"}, 1, 3},
	})
	periods, _ := Periods(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC), Month)
	cached, computed := NewQuerier(conn, db), NewQuerier(conn, db)
	computed.Cache = false

	first := readFigures(t, cached, Slice{}, periods)
	if want := readFigures(t, computed, Slice{}, periods); !reflect.DeepEqual(first, want) {
		t.Fatalf("first run %+v, computed %+v", first, want)
	}
	// Four figures of three past periods.
	if n := cachedRows(t, cached); n != 12 {
		t.Fatalf("%d cached rows after the first run, want 12", n)
	}
	second := readFigures(t, cached, Slice{}, periods)
	if !reflect.DeepEqual(second, first) {
		t.Fatalf("second run %+v, first %+v", second, first)
	}
	if n := cachedRows(t, cached); n != 12 {
		t.Fatalf("%d cached rows after a second run on the same parts, want 12 (every period read back)", n)
	}

	// A late window of run-3 in March, and a newer version of run-1's
	// window in January: both months change.
	insertTasks(t, conn, db+".task_rollup", []taskRow{
		{1, "beta", "run-3", "2026-03-04 09:00:00", "chat", "app", "2026-03-04 09:10:00", "2026-03-04 09:20:00", 5, 700, 70, 900, 900, []string{"gpt-4o"}, 1, 9},
		{0, "acme", "run-1", "2026-01-10 10:00:00", "review", "app", "2026-01-10 10:05:00", "2026-01-10 10:55:00", 6, 1500, 150, 8000, 9000, g, 1, 8},
		{2, "gamma", "run-4", "2026-01-20 10:00:00", "review", "app", "2026-01-20 10:05:00", "2026-01-20 10:55:00", 1, 10, 10, 10, 10, g, 0, 2},
	})
	after := readFigures(t, cached, Slice{}, periods)
	want := readFigures(t, computed, Slice{}, periods)
	if !reflect.DeepEqual(after, want) {
		t.Fatalf("after new windows: cached run %+v, computed %+v", after, want)
	}
	if reflect.DeepEqual(after, first) {
		t.Fatal("the new windows changed nothing: the test does not test the cache")
	}
	if after.Tasks[""][0] != 3 || after.Stats["review"][0].MeanRequests != 6 || after.Stats["chat"][2].MeanRequests != 7 {
		t.Errorf("after new windows: January %d tasks, review mean requests %v; March chat mean requests %v; want 3, 6, 7",
			after.Tasks[""][0], after.Stats["review"][0].MeanRequests, after.Stats["chat"][2].MeanRequests)
	}
}

// A period not yet over is computed every time and never stored; without
// the cache table (a database not migrated to it) every period is computed.
func TestOpenPeriodsAndMissingCacheTableAreComputed(t *testing.T) {
	conn, db := newDB(t)
	insertTasks(t, conn, db+".task_rollup", []taskRow{
		{0, "acme", "run-1", "2026-01-10 10:00:00", "review", "app", "2026-01-10 10:05:00", "2026-01-10 10:50:00", 4, 1000, 100, 5000, 9000, []string{"gpt-4o"}, 1, 7},
	})
	periods, _ := Periods(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC), Day)
	q := NewQuerier(conn, db)
	q.now = func() time.Time { return time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC) }
	f := readFigures(t, q, Slice{}, periods)
	if f.Tasks[""][9] != 1 {
		t.Fatalf("January 10: %d tasks, want 1", f.Tasks[""][9])
	}
	// 14 past days, four figures each.
	if n := cachedRows(t, q); n != 4*14 {
		t.Fatalf("%d cached rows, want %d: only the days over by the 15th noon", n, 4*14)
	}
	if err := conn.Exec(context.Background(), "DROP TABLE "+db+".report_cache"); err != nil {
		t.Fatal(err)
	}
	if g := readFigures(t, q, Slice{}, periods); !reflect.DeepEqual(g, f) {
		t.Fatalf("without the cache table %+v, with it %+v", g, f)
	}
}

// Tables whose parts system.parts does not show (a Distributed table on a
// cluster read without --cluster, a Merge table) give no digest to trust:
// their figures are computed every time, never cached.
func TestTablesWithoutOwnPartsAreNeverCached(t *testing.T) {
	conn, db := newDB(t)
	ctx := context.Background()
	for _, stmt := range []string{
		"RENAME TABLE " + db + ".task_rollup TO " + db + ".task_rollup_store",
		"CREATE TABLE " + db + ".task_rollup AS " + db + ".task_rollup_store ENGINE = Merge(" + db + ", '^task_rollup_store$')",
	} {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	g := []string{"gpt-4o"}
	insertTasks(t, conn, db+".task_rollup_store", []taskRow{
		{0, "acme", "run-1", "2026-01-10 10:00:00", "review", "app", "2026-01-10 10:05:00", "2026-01-10 10:50:00", 4, 1000, 100, 5000, 9000, g, 1, 7},
	})
	periods, _ := Periods(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC), Month)
	q := NewQuerier(conn, db)
	first, err := q.taskStats(ctx, Slice{}, periods, nil)
	if err != nil {
		t.Fatal(err)
	}
	insertTasks(t, conn, db+".task_rollup_store", []taskRow{
		{0, "acme", "run-2", "2026-01-12 10:00:00", "review", "app", "2026-01-12 10:05:00", "2026-01-12 10:50:00", 2, 10, 10, 10, 10, g, 1, 3},
	})
	second, err := q.taskStats(ctx, Slice{}, periods, nil)
	if err != nil {
		t.Fatal(err)
	}
	if first["review"][0].Ended != 1 || second["review"][0].Ended != 2 {
		t.Fatalf("ended tasks %d then %d, want 1 then 2", first["review"][0].Ended, second["review"][0].Ended)
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".report_cache WHERE payload LIKE '%review%'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d task statistics cached from a table without parts of its own", n)
	}
}
