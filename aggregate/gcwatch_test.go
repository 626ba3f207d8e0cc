package aggregate

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestGCShareIsTheCollectorsPartOfTheCPUUsed(t *testing.T) {
	prev := gcSample{gc: 1, total: 20, idle: 10}
	for _, c := range []struct {
		cur  gcSample
		want float64
	}{
		{gcSample{gc: 2, total: 30, idle: 16}, 0.25}, // 4 s used, 1 by the collector
		{gcSample{gc: 1, total: 30, idle: 20}, 0},    // nothing used
		{gcSample{gc: 3, total: 24, idle: 10}, 0.5},
	} {
		if got := gcShare(prev, c.cur); got != c.want {
			t.Fatalf("gcShare(%+v, %+v) = %v, want %v", prev, c.cur, got, c.want)
		}
	}
}

// A live heap that fills the memory limit makes the collector run after
// every megabyte allocated: the watch warns, naming the flag. With room
// under the limit it stays quiet.
func TestTheWatchWarnsWhenTheLiveHeapFillsTheLimit(t *testing.T) {
	// run allocates garbage for 1.2 s, at most budget bytes of it (then it
	// spins without allocating), under a limit headroom above the live heap.
	run := func(headroom, budget int64) []observer.LoggedEntry {
		t.Helper()
		// A million small objects of pointers, as states are: the
		// collector traces all of them every cycle.
		type node struct {
			next *node
			s    string
		}
		live := make([]*node, 1<<20)
		for i := range live {
			live[i] = &node{s: "x"}
			if i > 0 {
				live[i].next = live[i-1]
			}
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		defer debug.SetGCPercent(debug.SetGCPercent(-1))
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(int64(ms.HeapAlloc) + headroom))

		core, logs := observer.New(zapcore.WarnLevel)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { watchGC(ctx, zap.New(core), 384<<20, 300*time.Millisecond); close(done) }()
		var sink []byte
		for end, n := time.Now().Add(1200*time.Millisecond), int64(0); time.Now().Before(end); {
			if n < budget {
				sink = make([]byte, 16<<10) // garbage at once
				n += 16 << 10
			}
		}
		cancel()
		<-done
		runtime.KeepAlive(live)
		_ = sink
		return logs.All()
	}
	if got := run(1<<20, 1<<62); len(got) != 1 || got[0].ContextMap()["gc_cpu_share"].(float64) < gcWarnShare {
		t.Fatalf("a live heap at the limit: warnings %v, want one with a share of at least %v", got, gcWarnShare)
	}
	if got := run(4<<30, 1<<30); len(got) != 0 {
		t.Fatalf("with room under the limit: warnings %v, want none", got)
	}
}
