package schemas

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// The column slices line up with the column lists the inserts name:
// every column but the last, written_at, which the writer stamps.
func TestColumnsMatchTheirColumnLists(t *testing.T) {
	for _, c := range []struct {
		list string
		cols []any
	}{{UsageColumns, (&UsageCols{}).Columns()}, {TaskColumns, (&TaskCols{}).Columns()}} {
		names := strings.Split(c.list, ", ")
		if len(c.cols)+1 != len(names) || names[len(names)-1] != "written_at" {
			t.Fatalf("%d column slices for %d names ending in %q: %s", len(c.cols), len(names), names[len(names)-1], c.list)
		}
	}
}

// A row read back from the columns is the row added, times to the second
// (what a DateTime column stores).
func TestRowsReadBackFromColumnsAreTheRowsAdded(t *testing.T) {
	w := time.Date(2026, 3, 1, 12, 34, 0, 0, time.UTC)
	usage := []UsageRow{
		{SrcPartition: 3, WindowStart: w, Tenant: "acme", App: "chat", TaskType: "agent", Provider: "openai", Model: "gpt-4o",
			Operation: "chat", Status: "ok", Requests: 2, InputTokens: 3, OutputTokens: 4, CacheReadTokens: 5, CacheWriteTokens: 6,
			CacheWrite1hTokens: 7, ReasoningTokens: 8, CostNanos: 9, RefCostNanos: 10, UnpricedRequests: 1, LatencyMsSum: 11,
			LatencyMsMax: 12, Version: 13},
		{WindowStart: w.Add(time.Minute), Tenant: "beta", Requests: 1, Version: 14},
	}
	uc := UsageColsOf(usage...)
	if uc.Len() != len(usage) {
		t.Fatalf("%d usage rows, want %d", uc.Len(), len(usage))
	}
	for i, want := range usage {
		if got := uc.Row(i); !reflect.DeepEqual(got, want) {
			t.Fatalf("usage row %d: %+v, want %+v", i, got, want)
		}
	}
	tasks := []TaskRow{
		{SrcPartition: 1, Tenant: "acme", TaskID: "t-1", WindowStart: w, TaskType: "agent", App: "chat", MinTime: w.Add(time.Second),
			MaxTime: w.Add(59 * time.Second), Requests: 2, InputTokens: 3, OutputTokens: 4, CacheReadTokens: 5, CacheWriteTokens: 6,
			CacheWrite1hTokens: 7, ReasoningTokens: 8, CostNanos: 9, RefCostNanos: 10, UnpricedRequests: 1,
			Models: []string{"a", "b"}, Done: 1, Version: 13},
		{Tenant: "beta", TaskID: "t-2", WindowStart: w, MinTime: w, MaxTime: w, Models: []string{}, Version: 14},
	}
	tc := TaskColsOf(tasks...)
	for i, want := range tasks {
		if got := tc.Row(i); !reflect.DeepEqual(got, want) {
			t.Fatalf("task row %d: %+v, want %+v", i, got, want)
		}
	}
}
