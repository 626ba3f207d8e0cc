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
	prev := gcSample{gc: 1, markIdle: 0.5, total: 20, idle: 10}
	for _, c := range []struct {
		cur  gcSample
		want float64
	}{
		{gcSample{gc: 2, markIdle: 0.5, total: 30, idle: 16}, 0.25}, // 4 s used, 1 by the collector
		{gcSample{gc: 1, markIdle: 0.5, total: 30, idle: 20}, 0},    // nothing used
		{gcSample{gc: 3, markIdle: 0.5, total: 24, idle: 10}, 0.5},  // 4 s used, 2 by the collector
		{gcSample{gc: 4, markIdle: 2.5, total: 30, idle: 16}, 0.5},  // of 4 s, 2 were idle marking: 1 of 2
		{gcSample{gc: 1.5, markIdle: 1, total: 20.5, idle: 10}, 0},  // idle marking only
	} {
		if got := gcShare(prev, c.cur); got != c.want {
			t.Fatalf("gcShare(%+v, %+v) = %v, want %v", prev, c.cur, got, c.want)
		}
	}
}

// The watch's share can be checked on /metrics: the runtime's total, idle
// and idle-marking CPU are exported beside the collector's.
func TestTheCollectorsShareIsOnMetrics(t *testing.T) {
	fams, err := newMetrics().reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range fams {
		have[f.GetName()] = true
	}
	for _, n := range []string{"go_cpu_classes_gc_total_cpu_seconds_total", "go_cpu_classes_gc_mark_idle_cpu_seconds_total",
		"go_cpu_classes_total_cpu_seconds_total", "go_cpu_classes_idle_cpu_seconds_total"} {
		if !have[n] {
			t.Errorf("/metrics has no %s", n)
		}
	}
}

// A live heap that fills the memory limit makes the collector run after
// every megabyte allocated: the watch warns, naming the flag. With room
// under the limit the collector still runs, and the watch stays quiet.
// The work between allocations allocates about 200 MB/s, as an aggregator
// at 300,000 events/s does.
func TestTheWatchWarnsWhenTheLiveHeapFillsTheLimit(t *testing.T) {
	// run allocates 16 KiB of garbage every 80 us for 1.2 s under a limit
	// headroom above the live heap and returns the warnings and the
	// collections made meanwhile.
	run := func(headroom int64) ([]observer.LoggedEntry, uint32) {
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
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		defer debug.SetGCPercent(debug.SetGCPercent(-1))
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(int64(before.HeapAlloc) + headroom))

		core, logs := observer.New(zapcore.WarnLevel)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { watchGC(ctx, zap.New(core), 384<<20, 300*time.Millisecond); close(done) }()
		var sink []byte
		for last, end := time.Now(), time.Now().Add(1200*time.Millisecond); last.Before(end); {
			if now := time.Now(); now.Sub(last) >= 80*time.Microsecond {
				sink, last = make([]byte, 16<<10), now // garbage at once
			}
		}
		cancel()
		<-done
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(live)
		_ = sink
		return logs.All(), after.NumGC - before.NumGC
	}
	got, _ := run(1 << 20)
	if len(got) != 1 {
		t.Fatalf("a live heap at the limit: warnings %v, want one", got)
	}
	if share, ok := got[0].ContextMap()["gc_cpu_share"].(float64); !ok || share < gcWarnShare {
		t.Fatalf("a live heap at the limit: warned with a share of %v, want at least %v", got[0].ContextMap()["gc_cpu_share"], gcWarnShare)
	}
	got, gcs := run(48 << 20)
	if gcs == 0 {
		t.Fatal("with room under the limit: no collection ran, so nothing was measured")
	}
	if len(got) != 0 {
		t.Fatalf("with room under the limit (%d collections): warnings %v, want none", gcs, got)
	}
}
