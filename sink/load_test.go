package sink

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/internal/itest"
	"github.com/jevonsdev/jevons/schemas"
)

// Late loads of many long keys never meet ClickHouse's max_query_size
// (256 KiB by default): 3,000 task keys with 256-character ids and 3,000
// usage keys with long dimensions, each loaded in one call (the keys travel
// as an external table, not as query text).
func TestLoadsOfManyLongKeysPassTheQuerySizeLimit(t *testing.T) {
	ctx, st := migratedStore(t, "sink_load", 2*time.Minute)
	const n = 3000
	long := strings.Repeat("x", 240)
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var b Batch
	var tkeys []TaskKey
	var ukeys []UsageKey
	usage := UsageRows{Table: UsageDailyTable}
	for i := range n {
		w := base.Add(time.Duration(i%40) * 24 * time.Hour)
		id := fmt.Sprintf("%s-%06d", long, i)
		b.Tasks.Add(&schemas.TaskRow{Tenant: "acme", TaskID: id, WindowStart: w, MinTime: w, MaxTime: w, Requests: 1, Version: uint64(i)})
		tkeys = append(tkeys, TaskKey{Window: w.UnixMilli(), Tenant: "acme", TaskID: id})
		usage.Cols.Add(&schemas.UsageRow{WindowStart: w, Tenant: "acme", App: id, Model: long, Requests: uint64(i + 1), Version: uint64(i)})
		ukeys = append(ukeys, UsageKey{Window: w.UnixMilli(), Tenant: "acme", App: id, Model: long})
	}
	b.Usage = []UsageRows{usage}
	if err := st.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	tasks, err := st.LoadTasks(ctx, 0, 0, tkeys)
	if err != nil {
		t.Fatalf("load %d task keys: %v", n, err)
	}
	rows, err := st.LoadUsage(ctx, UsageDailyTable, 0, 0, ukeys)
	if err != nil {
		t.Fatalf("load %d usage keys: %v", n, err)
	}
	if len(tasks) != n || len(rows) != n {
		t.Fatalf("loaded %d task and %d usage states, want %d each", len(tasks), len(rows), n)
	}
	var sum uint64
	for _, r := range rows {
		sum += r.Requests
	}
	if sum != n*(n+1)/2 {
		t.Fatalf("loaded usage states sum to %d requests, want %d", sum, n*(n+1)/2)
	}
}

// A checkpoint keeps the fingerprint of the catalog its partition was
// priced with and the offset from which it was; the newest one wins.
func TestCheckpointRecordsTheCatalog(t *testing.T) {
	ctx, st := migratedStore(t, "sink_ckpt", time.Minute)
	for _, c := range []schemas.Checkpoint{
		{Group: "g", Topic: "t", Partition: 3, FlushedThrough: 100, ReplayFrom: 40, ReplayMaxTime: 7, Catalog: "aaaa", CatalogFrom: 0},
		{Group: "g", Topic: "t", Partition: 3, FlushedThrough: 250, ReplayFrom: 90, ReplayMaxTime: 9, Catalog: "bbbb", CatalogFrom: 100},
	} {
		if err := st.Write(ctx, &Batch{Checkpoints: []schemas.Checkpoint{c}}); err != nil {
			t.Fatal(err)
		}
	}
	got, ok, err := st.LoadCheckpoint(ctx, "g", "t", 3)
	want := schemas.Checkpoint{Group: "g", Topic: "t", Partition: 3, FlushedThrough: 250, ReplayFrom: 90, ReplayMaxTime: 9, Catalog: "bbbb", CatalogFrom: 100}
	if err != nil || !ok || got != want {
		t.Fatalf("checkpoint %+v (found %v, %v), want %+v", got, ok, err, want)
	}
}

// Key loads read without FINAL: of several stored versions of a key (parts
// not merged yet), the highest is returned, once, as FINAL would.
func TestKeyLoadsReturnTheNewestVersion(t *testing.T) {
	ctx, st := migratedStore(t, "sink_newest", time.Minute)
	w := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, v := range []uint64{1, 3, 2} { // one insert each: three parts
		b := Batch{Usage: []UsageRows{{Table: UsageTable, Cols: schemas.UsageColsOf(schemas.UsageRow{WindowStart: w, Tenant: "acme", Requests: v * 10, Version: v})}},
			Tasks: schemas.TaskColsOf(schemas.TaskRow{Tenant: "acme", TaskID: "t1", WindowStart: w, MinTime: w, MaxTime: w, Requests: v * 10, Version: v})}
		if err := st.Write(ctx, &b); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := st.LoadUsage(ctx, UsageTable, 0, 0, []UsageKey{{Window: w.UnixMilli(), Tenant: "acme"}, {Window: w.UnixMilli(), Tenant: "other"}})
	if err != nil || len(rows) != 1 || rows[0].Version != 3 || rows[0].Requests != 30 {
		t.Fatalf("usage key load: %+v, %v; want version 3 once", rows, err)
	}
	tasks, err := st.LoadTasks(ctx, 0, 0, []TaskKey{{Window: w.UnixMilli(), Tenant: "acme", TaskID: "t1"}})
	if err != nil || len(tasks) != 1 || tasks[0].Version != 3 || tasks[0].Requests != 30 {
		t.Fatalf("task key load: %+v, %v; want version 3 once", tasks, err)
	}
}

// A partition with no stored task partial says so; one with some names the
// newest window at or after the bound asked for.
func TestLastTaskWindowNamesTheNewestStoredWindow(t *testing.T) {
	ctx, st := migratedStore(t, "sink_last", time.Minute)
	if _, ok, err := st.LastTaskWindow(ctx, 3, 0); err != nil || ok {
		t.Fatalf("an empty table: ok %v, err %v; want none stored", ok, err)
	}
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var b Batch
	for i, w := range []time.Time{base, base.Add(2 * time.Hour), base.Add(time.Hour)} {
		b.Tasks.Add(&schemas.TaskRow{SrcPartition: 3, Tenant: "acme", TaskID: fmt.Sprint(i), WindowStart: w, MinTime: w, MaxTime: w, Requests: 1})
	}
	if err := st.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	last, ok, err := st.LastTaskWindow(ctx, 3, base.UnixMilli())
	if err != nil || !ok || last != base.Add(2*time.Hour).UnixMilli() {
		t.Fatalf("newest window %v (ok %v, err %v), want %v", time.UnixMilli(last).UTC(), ok, err, base.Add(2*time.Hour))
	}
	if _, ok, err := st.LastTaskWindow(ctx, 3, base.Add(3*time.Hour).UnixMilli()); err != nil || ok {
		t.Fatalf("after the newest window: ok %v, err %v; want none", ok, err)
	}
	if _, ok, err := st.LastTaskWindow(ctx, 4, 0); err != nil || ok {
		t.Fatalf("another partition: ok %v, err %v; want none", ok, err)
	}
}

// Every usage table the aggregator keeps states in can be scanned for its
// stored keys and loaded by key: the late path reads each resolution's.
func TestEveryUsageTableCanBeScannedAndLoaded(t *testing.T) {
	ctx, st := migratedStore(t, "sink_tables", time.Minute)
	w := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, table := range UsageTables {
		b := Batch{Usage: []UsageRows{{Table: table, Cols: schemas.UsageColsOf(schemas.UsageRow{SrcPartition: 2, WindowStart: w, Tenant: "acme", Requests: 7, Version: 1})}}}
		if err := st.Write(ctx, &b); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		var keys []UsageKey
		if err := st.ScanUsageKeys(ctx, table, 2, 0, func(k *UsageKey) { keys = append(keys, *k) }); err != nil || len(keys) != 1 || keys[0].Tenant != "acme" {
			t.Fatalf("%s: scanned %+v, %v; want the one key", table, keys, err)
		}
		rows, err := st.LoadUsage(ctx, table, 2, 0, keys)
		if err != nil || len(rows) != 1 || rows[0].Requests != 7 {
			t.Fatalf("%s: loaded %+v, %v; want the one state", table, rows, err)
		}
	}
	if err := st.ScanUsageKeys(ctx, "task_rollup", 2, 0, func(*UsageKey) {}); err == nil {
		t.Fatal("a scan of a table that holds no usage states was accepted")
	}
}

// migratedStore returns a Store over a fresh, migrated database on the real
// ClickHouse, dropped when the test passes, and a context of timeout.
func migratedStore(t *testing.T, prefix string, timeout time.Duration) (context.Context, *Store) {
	t.Helper()
	addr := itest.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	cfg := DefaultConfig()
	cfg.Addr, cfg.Database = addr, fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano()%1e9)
	conn, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := NewStore(conn, cfg.Database, zap.NewNop())
	t.Cleanup(func() {
		st.Close()
		if !t.Failed() {
			_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+cfg.Database)
		}
		conn.Close()
	})
	migs, err := LoadMigrations(schemas.ClickHouse, "clickhouse")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Migrate(ctx, conn, cfg.Database, migs, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	return ctx, st
}
