package sink

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jevonsdev/jevons/schemas"
)

// One group commit appends the columns of several flushes to one insert per
// table: every row of every batch lands as written (values, times, models
// across batches), whatever a batch holds (here one holds nothing and one
// holds no task), and an insert larger than the connection's send buffer
// goes out in pieces.
//
// The driver's columns hold at most blockRows rows at a time, and an INSERT
// at most insertBlocks blocks: with smaller ones, batches cross block
// boundaries, one spans several, the rows of a table end exactly on a
// boundary (3,004 usage rows, 3,003 task rows), also on the last block an
// INSERT holds, and the rows go out in several INSERTs. Every row lands
// once: the tables are also counted without FINAL.
func TestOneInsertHoldsEveryBatchsRowsAsWritten(t *testing.T) {
	for _, tc := range []struct{ rows, blocks int }{{blockRows, insertBlocks}, {1000, insertBlocks}, {1001, 2}, {1001, 3}, {1502, 1}, {751, 2}} {
		t.Run(fmt.Sprintf("blocks of %d rows, %d per insert", tc.rows, tc.blocks), func(t *testing.T) {
			defer func(n, m int) { blockRows, insertBlocks = n, m }(blockRows, insertBlocks)
			blockRows, insertBlocks = tc.rows, tc.blocks
			oneInsertHoldsEveryBatchsRows(t, "sink_group")
		})
	}
}

func oneInsertHoldsEveryBatchsRows(t *testing.T, db string) {
	ctx, st := migratedStore(t, db, 2*time.Minute)
	w := time.Date(2026, 3, 1, 12, 34, 0, 0, time.UTC)
	long := strings.Repeat("m", 400)
	var bs []*Batch
	var wantUsage []schemas.UsageRow
	var wantTasks []schemas.TaskRow
	for bi, n := range []int{3, 0, 3000, 1} { // 3000 rows of 400-byte models pass sendBuffer
		b := &Batch{Usage: []UsageRows{{Table: UsageTable}, {Table: UsageDailyTable}}}
		for i := range n {
			u := schemas.UsageRow{SrcPartition: uint32(bi), WindowStart: w.Add(time.Duration(i) * time.Minute), Tenant: "acme",
				App: fmt.Sprintf("app-%d", i), TaskType: "agent", Provider: "openai", Model: long, Operation: "chat", Status: "ok",
				Requests: uint64(i + 1), InputTokens: 3, OutputTokens: 4, CacheReadTokens: 5, CacheWriteTokens: 6, CacheWrite1hTokens: 7,
				ReasoningTokens: 8, CostNanos: int64(9 * i), RefCostNanos: 10, UnpricedRequests: 1, LatencyMsSum: 11, LatencyMsMax: 12,
				Version: uint64(100 + i)}
			b.Usage[0].Cols.Add(&u)
			wantUsage = append(wantUsage, u)
			if bi == 3 {
				continue // a batch with usage but no task
			}
			tr := schemas.TaskRow{SrcPartition: uint32(bi), Tenant: "acme", TaskID: fmt.Sprintf("t-%d", i), WindowStart: w,
				TaskType: "agent", App: "chat", MinTime: w.Add(time.Duration(i) * time.Second), MaxTime: w.Add(time.Hour),
				Requests: uint64(i + 1), CostNanos: int64(i), Models: [][]string{{"a", "b"}, {}, {"c"}}[i%3], Done: uint8(i % 2),
				Version: uint64(200 + i)}
			b.Tasks.Add(&tr)
			wantTasks = append(wantTasks, tr)
		}
		bs = append(bs, b)
	}
	if err := st.insertAll(ctx, bs); err != nil {
		t.Fatal(err)
	}
	var gotUsage []schemas.UsageRow
	var gotTasks []schemas.TaskRow
	for bi := range bs {
		rows, err := st.LoadUsage(ctx, UsageTable, uint32(bi), 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		tasks, err := st.LoadTasks(ctx, uint32(bi), 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		gotUsage, gotTasks = append(gotUsage, rows...), append(gotTasks, tasks...)
	}
	byUsage := func(a, b schemas.UsageRow) int {
		return cmp.Or(cmp.Compare(a.SrcPartition, b.SrcPartition), cmp.Compare(a.Version, b.Version))
	}
	byTask := func(a, b schemas.TaskRow) int {
		return cmp.Or(cmp.Compare(a.SrcPartition, b.SrcPartition), cmp.Compare(a.Version, b.Version))
	}
	slices.SortFunc(gotUsage, byUsage)
	slices.SortFunc(wantUsage, byUsage)
	slices.SortFunc(gotTasks, byTask)
	slices.SortFunc(wantTasks, byTask)
	if len(gotUsage) != len(wantUsage) || len(gotTasks) != len(wantTasks) {
		t.Fatalf("read back %d usage and %d task rows, wrote %d and %d", len(gotUsage), len(gotTasks), len(wantUsage), len(wantTasks))
	}
	for i := range wantUsage {
		g := gotUsage[i]
		g.WindowStart = g.WindowStart.UTC()
		if !reflect.DeepEqual(g, wantUsage[i]) {
			t.Fatalf("usage row %d:\n got %+v\nwant %+v", i, g, wantUsage[i])
		}
	}
	for i := range wantTasks {
		g := gotTasks[i]
		g.WindowStart, g.MinTime, g.MaxTime = g.WindowStart.UTC(), g.MinTime.UTC(), g.MaxTime.UTC()
		if len(g.Models) == 0 {
			g.Models = []string{}
		}
		if !reflect.DeepEqual(g, wantTasks[i]) {
			t.Fatalf("task row %d:\n got %+v\nwant %+v", i, g, wantTasks[i])
		}
	}
	for table, want := range map[string]int{UsageTable: len(wantUsage), TaskTable: len(wantTasks), UsageDailyTable: 0} {
		var n uint64
		if err := st.conn.QueryRow(ctx, "SELECT count() FROM "+st.db+"."+table).Scan(&n); err != nil || n != uint64(want) {
			t.Fatalf("%s holds %d rows (%v), written %d", table, n, err, want)
		}
	}
}

// rowRange takes every column type the writer sends.
func TestRowRangeTakesEveryColumn(t *testing.T) {
	u, tk := schemas.UsageColsOf(schemas.UsageRow{}, schemas.UsageRow{}), schemas.TaskColsOf(schemas.TaskRow{}, schemas.TaskRow{})
	for _, c := range append(u.Columns(), tk.Columns()...) {
		if got := reflect.ValueOf(rowRange(c, 1, 2)); got.Kind() != reflect.Slice || got.Len() != 1 || got.Type() != reflect.TypeOf(c) {
			t.Fatalf("rowRange of a %T gave %v", c, got)
		}
	}
}
