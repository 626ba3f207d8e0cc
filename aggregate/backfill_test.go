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

// backfill makes one recent event, then n events spread over 34 days in
// random order (an import of history), with retries of recent messages.
func backfill(n int, seed uint64) (msgs []kafka.Message, wantRequests int64) {
	rng := rand.New(rand.NewPCG(seed, seed))
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; len(msgs) < n; i++ {
		var m kafka.Message
		if i > 0 && rng.IntN(50) == 0 { // a producer retry, shortly after its original
			m = msgs[len(msgs)-1-rng.IntN(min(len(msgs), 200))]
		} else {
			t := now.Add(-time.Duration(rng.Int64N(int64(34 * 24 * time.Hour))))
			if i == 0 {
				t = now
			}
			ev := schemas.Event{EventID: fmt.Sprintf("b%d", i), Time: t.Truncate(time.Millisecond), Tenant: fmt.Sprintf("t%d", rng.IntN(5)),
				TaskID: fmt.Sprintf("task%d", i), App: fmt.Sprintf("app%d", rng.IntN(3)), Provider: "openai", Model: "gpt-4o",
				Usage: schemas.Usage{InputTokens: int64(1 + rng.IntN(5000)), OutputTokens: int64(rng.IntN(900))}}
			m = kafka.Message{Value: schemas.AppendJSON(nil, &ev), Time: now}
			wantRequests++
		}
		m.Offset = int64(len(msgs))
		msgs = append(msgs, m)
	}
	return msgs, wantRequests
}

// A backfill (the clock stands at the newest event while history arrives
// in random order) keeps memory bounded by configuration: late states leave
// after their flush (but the newest tenth of MaxDirty), only keys that may be stored
// are loaded, the duplicate set
// stays at its maximum, and the totals stay exact, also across crashes.
func TestBackfillKeepsMemoryBoundedAndTotalsExact(t *testing.T) {
	const n, flushEvery, dedupMax = 30_000, 1000, 4000
	msgs, want := backfill(n, 5)
	cfg := DefaultConfig()
	cfg.DedupMaxEntries = dedupMax
	cfg.MaxDirty = 3000 // a tenth of it: the clean late states kept per resolution
	cat := pricing.MustDefault()
	ctx := context.Background()
	for trial, crashAt := range []int{-1, 12_345} {
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
		maxStates, maxDedup, cold := 0, 0, 0
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
			if p.process(&m) == outLateCorrected {
				cold++
			}
			if off%flushEvery == flushEvery-1 || off == int64(len(msgs)-1) {
				st.flush(t, ctx, p)
				maxStates, maxDedup = max(maxStates, p.closedStates()), max(maxDedup, p.dedup.len())
			}
		}
		// After each flush only open windows' states remain, and at most
		// keepLate clean late states per resolution.
		if maxStates > keptLate(&cfg) {
			t.Fatalf("trial %d: %d states of closed windows in memory after a flush, at most %d kept", trial, maxStates, keptLate(&cfg))
		}
		if maxDedup > dedupMax {
			t.Fatalf("trial %d: duplicate set held %d entries, maximum %d", trial, maxDedup, dedupMax)
		}
		if st.loadedUsage > 2*cold {
			t.Fatalf("trial %d: %d usage keys loaded for %d late events", trial, st.loadedUsage, cold)
		}
		// Nearly every late minute key was never stored: it starts from
		// zero without a load (each load reads the partition's stored
		// states, so loading them all makes a backfill quadratic).
		if n := st.loadedBy[sink.UsageTable]; n > cold/20 {
			t.Fatalf("trial %d: %d minute keys loaded for %d late events, most of them never stored", trial, n, cold)
		}
		for _, table := range []string{sink.UsageTable, sink.UsageDailyTable, sink.UsageMonthlyTable} {
			if got, _, _, taskReq := st.usageTotals(table); got != want || taskReq != want {
				t.Fatalf("trial %d: %s holds %d requests (tasks %d), want %d", trial, table, got, taskReq, want)
			}
		}
		t.Logf("keys loaded by table %v (loads %v), %d late events", st.loadedBy, st.loadCalls, cold)
		// Month states are few and kept, also those whose window closed
		// while they were open: without a restart none is loaded again.
		if n := st.loadedBy[sink.UsageMonthlyTable]; trial == 0 && n > 0 {
			t.Fatalf("trial %d: %d month keys loaded again", trial, n)
		}
		daysMatchMinutes(t, st)
	}
}

// closedStates counts the states in memory whose window is below its floor.
func (p *partition) closedStates() int {
	n := 0
	for i := range p.usage {
		for k := range p.usage[i].states {
			if k.window < p.usage[i].floor {
				n++
			}
		}
	}
	for k := range p.tasks {
		if k.window < p.taskFloor {
			n++
		}
	}
	return n
}

// Every event its own task within one task window: the hashes of evicted
// tasks stay bounded, a restart loads no task window whole, and the task
// totals stay exact.
func TestEvictedTaskHashesStayBounded(t *testing.T) {
	const n, tasks = maxEvictedHashes + 40_000, maxEvictedHashes + 20_000
	cfg := DefaultConfig()
	cat := pricing.MustDefault()
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		ev := schemas.Event{EventID: fmt.Sprint(i), Time: base.Add(time.Duration(i) * 20 * time.Millisecond), Tenant: "t",
			TaskID: fmt.Sprintf("task-%d", i%tasks), Provider: "openai", Model: "gpt-4o", Usage: schemas.Usage{InputTokens: 10, OutputTokens: 1}}
		msgs[i] = kafka.Message{Offset: int64(i), Value: schemas.AppendJSON(nil, &ev), Time: ev.Time}
	}
	st := newMemStore()
	p := newPartition(0, &cfg, cat)
	p.startFresh(0)
	maxHashes, restarted := 0, false
	for off := 0; off < n; off++ {
		if off == n*3/4 && !restarted { // a restart from the last checkpoint
			restarted = true
			p = newPartition(0, &cfg, cat)
			p.restore(*st.ckpt)
			off = int(p.next)
			wholeLoads := st.wholeTaskLoads
			defer func() {
				if st.wholeTaskLoads > wholeLoads {
					t.Errorf("the restart loaded task windows whole")
				}
			}()
		}
		m := msgs[off]
		if !p.active && !p.replaying(m.Offset) {
			if err := p.activate(ctx, st, time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		p.process(&m)
		if off%1000 == 999 || off == n-1 {
			st.flush(t, ctx, p)
			maxHashes = max(maxHashes, p.evictedN)
		}
	}
	if maxHashes > maxEvictedHashes {
		t.Fatalf("%d evicted task hashes held, maximum %d", maxHashes, maxEvictedHashes)
	}
	if req, _, got, taskReq := st.totals(); req != n || taskReq != n || got != tasks {
		t.Fatalf("%d requests, %d in %d tasks; want %d in %d", req, taskReq, got, n, tasks)
	}
}
