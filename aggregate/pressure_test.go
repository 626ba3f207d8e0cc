package aggregate

import (
	"context"
	"testing"
	"time"

	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/sink"
)

// Day and month states ride along with the flushes that changed task and
// minute states force (see partition.pressure). On a stream whose
// dimension combinations keep changing, with late events: at every event
// a flush would hold at most three times what counts toward MaxDirty (each
// changed day or month state has a changed minute state or a waiting
// event), fewer rows are written than when every changed state counted,
// and the totals stay exact at every resolution.
func TestDayAndMonthStatesRideAlongWithForcedFlushes(t *testing.T) {
	const n, maxDirty = 30_000, 1000
	msgs, want := churn(n, 11)
	ctx := context.Background()
	stream := func(count func(*partition) int) (rows, forced int) {
		cfg := DefaultConfig()
		cfg.MaxDirty = maxDirty
		p := newPartition(0, &cfg, pricing.MustDefault())
		p.startFresh(0)
		st := newMemStore()
		for i := range msgs {
			m := &msgs[i]
			if !p.active {
				if err := p.activate(ctx, st, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			p.process(m)
			waiting := len(p.usage[resMinute].dirty) + p.cold()
			for _, r := range [...]int{resDay, resMonth} {
				if d := len(p.usage[r].dirty); d > waiting {
					t.Fatalf("offset %d: %d changed states in %s, more than the %d changed minute states and waiting events", m.Offset, d, p.usage[r].table, waiting)
				}
			}
			if pending, pressure := p.pending(), p.pressure(); pending > 3*pressure {
				t.Fatalf("offset %d: a flush would hold %d states, more than three times the %d counted toward MaxDirty", m.Offset, pending, pressure)
			}
			if count(p) >= maxDirty {
				st.flush(t, ctx, p)
				forced++
			}
		}
		st.flush(t, ctx, p)
		for _, table := range []string{sink.UsageTable, sink.UsageDailyTable, sink.UsageMonthlyTable} {
			if got, _, _, taskReq := st.usageTotals(table); got != want || taskReq != want {
				t.Fatalf("%s holds %d requests (tasks %d), want %d", table, got, taskReq, want)
			}
		}
		daysMatchMinutes(t, st)
		return st.rows, forced
	}
	rows, forced := stream((*partition).pressure)
	allRows, allForced := stream((*partition).pending)
	if forced == 0 {
		t.Fatal("no flush was forced: the stream does not test the bound")
	}
	if rows >= allRows {
		t.Fatalf("%d rows written (%d forced flushes), not fewer than the %d (%d flushes) when every changed state counts", rows, forced, allRows, allForced)
	}
	t.Logf("%d rows in %d forced flushes; %d rows in %d when day and month states count too", rows, forced, allRows, allForced)
}
