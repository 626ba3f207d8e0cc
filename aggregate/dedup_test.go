package aggregate

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

func TestDedupRecognisesDuplicatesWithinTheHorizon(t *testing.T) {
	d := newDedupSet(4000)  // entries also match within 1000 messages
	const horizon = 600_000 // 10 minutes
	if d.admit("acme", "e1", 1_000_000, horizon, 0) {
		t.Fatal("first delivery called a duplicate")
	}
	if !d.admit("acme", "e1", 1_000_000+horizon, horizon, 1) {
		t.Fatal("a delivery exactly at the horizon was not recognised")
	}
	if d.admit("other", "e1", 1_000_000+horizon, horizon, 2) {
		t.Fatal("the same event id of another tenant was called a duplicate")
	}
	if !d.admit("acme", "e1", 1_000_001+horizon, horizon, 999) {
		t.Fatal("a delivery beyond the horizon but 999 messages behind its original was not recognised")
	}
	if d.admit("acme", "e1", 1_000_001+horizon, horizon, 1001) {
		t.Fatal("a delivery beyond the horizon and 1001 messages behind was called a duplicate")
	}
}

// A restart replays from the replay start with the clock it recorded; from
// then on every decision must equal the uninterrupted run's.
func TestDedupReplayDecidesLikeTheLiveRun(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	type msg struct {
		id   string
		time int64
	}
	var stream []msg
	clock := int64(0)
	for i := range 20_000 {
		clock += int64(rng.IntN(100))
		m := msg{fmt.Sprintf("e%d", i), clock - int64(rng.IntN(50_000))}
		if i > 0 && rng.IntN(10) == 0 { // a retry of a recent event
			m = stream[max(0, len(stream)-1-rng.IntN(500))]
		}
		stream = append(stream, m)
	}
	const horizon = 30_000
	live := newDedupSet(8000) // a retry matches within 2000 messages or the horizon
	var liveDup []bool
	maxTime := int64(noTime)
	var replayFrom, replayClock int64
	var haveCheckpoint bool
	cut := 12_345
	for i, m := range stream {
		maxTime = max(maxTime, m.time)
		liveDup = append(liveDup, live.admit("t", m.id, maxTime, horizon, int64(i)))
		if i == cut-1 {
			replayFrom, replayClock, haveCheckpoint = live.evict(maxTime, horizon, int64(i+1))
		}
	}
	if !haveCheckpoint || replayFrom >= int64(cut) {
		t.Fatalf("replay start %d at cut %d", replayFrom, cut)
	}
	re := newDedupSet(8000)
	maxTime = replayClock
	for i := int(replayFrom); i < len(stream); i++ {
		m := stream[i]
		maxTime = max(maxTime, m.time)
		dup := re.admit("t", m.id, maxTime, horizon, int64(i))
		if i >= cut && dup != liveDup[i] {
			t.Fatalf("message %d: replay says duplicate=%v, live said %v", i, dup, liveDup[i])
		}
	}
}

// BenchmarkDedupBytesPerEntry measures the duplicate set's memory from the
// heap: bytes per entry with 200,000 entries (the default maximum).
func BenchmarkDedupBytesPerEntry(b *testing.B) {
	const n = 200_000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("01J9ZK3Q8R6W1M2N%010d", i)
	}
	var perEntry, counted float64
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		d := newDedupSet(n)
		for i, id := range ids {
			d.admit("tenant-01", id, int64(i), 600_000, int64(i))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEntry = float64(after.HeapAlloc-before.HeapAlloc) / float64(d.len())
		counted = float64(d.bytes()) / float64(d.len())
		runtime.KeepAlive(d)
	}
	b.ReportMetric(perEntry, "bytes/entry")
	b.ReportMetric(counted, "counted-bytes/entry") // what /metrics and jevons bench report
}
