package aggregate

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/sink"
)

// Day and month states ride along with the flushes that changed task and
// minute states force (see partition.pressure). On a stream whose
// dimension combinations keep changing, with late events, over a midnight
// that ends a day and a month: at every event the changed day states, and
// the changed month states, are at most the changed minute states and late
// events waiting for their minute state (each event that changes one
// changes its minute state or waits), so the day and month states' half
// never decides; fewer rows are written than when every changed state
// counted, and the totals stay exact at every resolution.
func TestDayAndMonthStatesRideAlongWithForcedFlushes(t *testing.T) {
	const n, maxDirty = 45_000, 1000 // 20 ms apart from 23:50: midnight at 30,000
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
			minute := len(p.usage[resMinute].dirty) + len(p.usage[resMinute].cold)
			for _, r := range [...]int{resDay, resMonth} {
				if d := len(p.usage[r].dirty); d > minute {
					t.Fatalf("offset %d: %d changed states in %s, more than the %d changed or waiting minute states", m.Offset, d, p.usage[r].table, minute)
				}
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

// A flush whose minute rows land but not the rest (the process dies while
// the day, month and task inserts are under way), again after each
// restart: each replay finds its minute states holding the replayed events
// and changes their day and month states, which the minute states do not
// witness. Counted only through the minute states, every next forced flush
// was larger than the last (198, 396, ... 1,386 day and month states for a
// MaxDirty of 100 after six such crashes); counted at half, no flush holds
// more than about twice MaxDirty of them. The totals stay exact.
func TestAFlushStaysBoundedWhenFlushesLandInPart(t *testing.T) {
	const maxDirty, crashes = 100, 6
	base := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	var msgs []kafka.Message
	add := func(at time.Time, task, app string) {
		i := len(msgs)
		ev := schemas.Event{EventID: fmt.Sprintf("e%d", i), Time: at, Tenant: "t", TaskID: task, App: app,
			Provider: "openai", Model: "gpt-4o", Usage: schemas.Usage{InputTokens: 100, OutputTokens: 10}}
		msgs = append(msgs, kafka.Message{Value: schemas.AppendJSON(nil, &ev), Time: at, Offset: int64(i)})
	}
	for i := range 10 { // flushed whole, with a checkpoint
		add(base.Add(time.Duration(i)*time.Second), "T0", "a0")
	}
	for i := range 5000 { // an hour later: one task, a new app (dimension combination) per event
		add(base.Add(time.Hour+time.Duration(i)*10*time.Millisecond), "T1", fmt.Sprintf("app%d", i))
	}
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.MaxDirty = maxDirty
	st := newMemStore()
	var p *partition
	start := func() int64 {
		p = newPartition(0, &cfg, pricing.MustDefault())
		if st.ckpt != nil {
			p.restore(*st.ckpt)
		} else {
			p.startFresh(0)
		}
		return p.next
	}
	off := start()
	crashed := 0
	for off < int64(len(msgs)) {
		m := &msgs[off]
		if !p.active && !p.replaying(m.Offset) {
			if err := p.activate(ctx, st, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		p.process(m)
		off++
		whole := off == 10
		if !whole && p.pressure() < maxDirty || !p.active || p.next < p.flushedThrough {
			continue
		}
		if err := p.resolveCold(ctx, st); err != nil {
			t.Fatal(err)
		}
		b, err := p.snapshot()
		if err != nil {
			t.Fatal(err)
		}
		// Below MaxDirty before the last event, which changed one day and
		// one month state.
		if dm := b.usage[resDay].Cols.Len() + b.usage[resMonth].Cols.Len(); dm > 2*maxDirty+1 {
			t.Fatalf("offset %d, after %d flushes that landed in part: a flush holds %d day and month states for a MaxDirty of %d", off, crashed, dm, maxDirty)
		}
		if !whole && crashed < crashes {
			crashed++
			st.writeMinutesOnly(b)
			off = start()
			continue
		}
		st.write(b)
		p.flushed(b)
	}
	st.flush(t, ctx, p)
	if crashed < crashes {
		t.Fatalf("%d flushes landed in part, want %d", crashed, crashes)
	}
	for _, table := range []string{sink.UsageTable, sink.UsageDailyTable, sink.UsageMonthlyTable} {
		if got, _, _, taskReq := st.usageTotals(table); got != int64(len(msgs)) || taskReq != int64(len(msgs)) {
			t.Fatalf("%s holds %d requests (tasks %d), want %d", table, got, taskReq, len(msgs))
		}
	}
}

// writeMinutesOnly writes only a flush's minute rows, as when the process
// dies after that insert: no other rows and no checkpoint.
func (m *memStore) writeMinutesOnly(b *flushBatch) {
	var only flushBatch
	only.usage[resMinute] = b.usage[resMinute]
	only.usage[resDay].Table, only.usage[resMonth].Table = b.usage[resDay].Table, b.usage[resMonth].Table
	m.writeRowsOnly(&only)
}
