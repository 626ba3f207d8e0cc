package aggregate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/sink"
)

// churn makes a partition's events over a midnight: before it, the
// dimension combinations keep changing (new tenants every two seconds, each
// with several apps and models); after it, a few tenants remain. Some
// events are late. Far more combinations pass than stay in open windows.
func churn(n int, seed uint64) (msgs []kafka.Message, wantRequests int64) {
	rng := rand.New(rand.NewPCG(seed, seed))
	base := time.Date(2026, 4, 30, 23, 50, 0, 0, time.UTC)
	models := []string{"gpt-4o", "gpt-4o-mini", "o3-mini"}
	for i := range n {
		now := base.Add(time.Duration(i) * 20 * time.Millisecond)
		t := now
		if rng.IntN(20) == 0 { // late: beyond the allowed lateness, within the horizon
			t = now.Add(-time.Duration(3+rng.IntN(10)) * time.Minute)
		}
		tenant := fmt.Sprintf("t%d", i/100+rng.IntN(3))
		if now.Day() == 1 {
			tenant = fmt.Sprintf("t%d", rng.IntN(3))
		}
		ev := schemas.Event{EventID: fmt.Sprintf("c%d", i), Time: t, Tenant: tenant,
			TaskID: fmt.Sprintf("task%d", i/7), App: fmt.Sprintf("app%d", rng.IntN(8)), Provider: "openai", Model: models[rng.IntN(3)],
			Usage: schemas.Usage{InputTokens: int64(100 + rng.IntN(5000)), OutputTokens: int64(rng.IntN(900))}}
		msgs = append(msgs, kafka.Message{Value: schemas.AppendJSON(nil, &ev), Time: now, Offset: int64(i)})
		wantRequests++
	}
	return msgs, wantRequests
}

// Usage states are keyed by interned dims, compared by pointer: the table
// of interned dims must stay canonical (one pointer per combination, the
// one every state in memory holds), its hints must point only to states in
// memory, and it must stay bounded by the states kept, while
// combinations keep changing, with late events and a crash; and the
// totals stay exact at every resolution.
func TestInternedDimsStayCanonicalAndBounded(t *testing.T) {
	const n, flushEvery = 60_000, 1500
	msgs, want := churn(n, 7)
	cfg := DefaultConfig()
	// Few clean late states kept (month states up to MaxDirty), so the
	// states of closed windows leave memory and the table must shrink.
	cfg.MaxDirty = 2000
	cat := pricing.MustDefault()
	ctx := context.Background()
	st := newMemStore()
	var p *partition
	start := func() {
		p = newPartition(0, &cfg, cat)
		if st.ckpt != nil {
			p.restore(*st.ckpt)
		} else {
			p.startFresh(0)
		}
	}
	start()
	crashAt, compacted, maxDims := 31_111, false, 0
	for off := p.next; off < int64(len(msgs)); off++ {
		if int(off) == crashAt {
			crashAt = -1
			start()
			off = p.next - 1
			continue
		}
		m := msgs[off]
		if !p.active && !p.replaying(m.Offset) {
			if err := p.activate(ctx, st, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		p.process(&m)
		if off%flushEvery == flushEvery-1 || off == int64(len(msgs)-1) {
			before := len(p.intern.dims)
			st.flush(t, ctx, p)
			compacted = compacted || len(p.intern.dims) < before
			maxDims = max(maxDims, len(p.intern.dims))
			live := 0
			for i := range p.usage {
				for k, s := range p.usage[i].states {
					if p.intern.dims[k.d.dims] != k.d || s.key != k {
						t.Fatalf("offset %d: state %+v of resolution %d is not keyed by the canonical dims", off, k.d.dims, i)
					}
				}
				live += len(p.usage[i].states)
			}
			for _, ts := range p.tasks {
				if d := ts.dims; d != nil && !d.dropped && p.intern.dims[d.dims] != d {
					t.Fatalf("offset %d: task %+v holds a dims hint %+v that is neither canonical nor dropped", off, ts.key, d.dims)
				}
			}
			for _, rec := range p.intern.dims {
				for i, s := range rec.cur {
					if s != nil && (s.gone || p.usage[i].states[s.key] != s) {
						t.Fatalf("offset %d: the hint of %+v at resolution %d is a state not in memory", off, rec.dims, i)
					}
				}
			}
			if len(p.intern.dims) > max(2*live, minDimsTable) {
				t.Fatalf("offset %d: %d interned dims for %d states in memory", off, len(p.intern.dims), live)
			}
		}
	}
	if !compacted {
		t.Fatalf("the interned dims were never rebuilt (at most %d): the stream does not test it", maxDims)
	}
	for _, table := range []string{sink.UsageTable, sink.UsageDailyTable, sink.UsageMonthlyTable} {
		if got, _, _, taskReq := st.usageTotals(table); got != want || taskReq != want {
			t.Fatalf("%s holds %d requests (tasks %d), want %d", table, got, taskReq, want)
		}
	}
	daysMatchMinutes(t, st)
}

// A task keeps the canonical record of its last event's dims as a hint for
// its next event. When the table of records is rebuilt without that record
// (no state in memory holds it), the hint must not be used: the next event
// of the task gets the table's record, so that the states of equal dims
// share one record (they are keyed by its pointer).
func TestATasksDimsHintIsNotUsedOnceItsRecordLeftTheTable(t *testing.T) {
	p := activePartition()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	msg := func(off int64, id string) *kafka.Message {
		ev := schemas.Event{EventID: id, Time: now, Tenant: "t", TaskID: "task", App: "a", Provider: "openai", Model: "gpt-4o",
			Usage: schemas.Usage{InputTokens: 100, OutputTokens: 10}}
		return &kafka.Message{Offset: off, Value: schemas.AppendJSON(nil, &ev), Time: now}
	}
	if o := p.process(msg(0, "e0")); o != outAggregated {
		t.Fatalf("first event: %s", outcomeNames[o])
	}
	var task *taskState
	for _, ts := range p.tasks {
		task = ts
	}
	old := task.dims
	if old == nil || p.intern.lookup(old.dims) != old {
		t.Fatalf("the task's hint %p is not the canonical record", old)
	}
	// The states leave memory (as flushed states of closed windows do) and
	// other combinations fill the table past its floor: the rebuild drops
	// the task's record.
	for i := range p.usage {
		clear(p.usage[i].states)
	}
	for i := range minDimsTable + 1 {
		p.intern.canon(dims{tenant: "t", app: fmt.Sprint("other", i), provider: "openai", model: "gpt-4o", status: "ok"})
	}
	p.compactDims()
	if !old.dropped || p.intern.lookup(old.dims) != nil {
		t.Fatalf("the rebuild kept the task's record (dropped %v)", old.dropped)
	}
	if o := p.process(msg(1, "e1")); o != outAggregated {
		t.Fatalf("second event: %s", outcomeNames[o])
	}
	canon := p.intern.lookup(old.dims)
	if canon == nil || canon == old || task.dims != canon {
		t.Fatalf("after the rebuild the task's event used record %p (table %p, dropped %p)", task.dims, canon, old)
	}
	for i := range p.usage {
		for k := range p.usage[i].states {
			if k.d != canon {
				t.Fatalf("resolution %d holds a state keyed by record %p, not the table's %p", i, k.d, canon)
			}
		}
	}
}
