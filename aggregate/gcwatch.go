package aggregate

import (
	"context"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"time"

	"go.uber.org/zap"
)

// The collector's pressure: under the soft memory limit the collector runs
// as the heap nears it, so its CPU grows with how little of the limit the
// live heap leaves free. A live heap that fills most of the limit (many
// partitions of high-cardinality states, large flushes in flight) makes it
// collect after every few megabytes allocated, and it can take half the
// aggregator's CPU (Go caps it there) while nothing else looks wrong. The
// watch reads the runtime's own accounting each gcWatchEvery and warns,
// at most once per gcWarnEvery, naming the remedy.
const (
	gcWatchEvery = time.Minute
	gcWarnEvery  = 10 * time.Minute
	// gcWarnShare is the collector's share of the aggregator's CPU above
	// which the watch warns. Under the memory limit Go caps the collector
	// at half the CPU: a share near that is a heap at the limit. With room
	// under the limit the share is a tenth or two.
	gcWarnShare = 0.4
)

// gcSample is the runtime's cumulative CPU accounting (updated as each
// collection ends) and the live heap.
type gcSample struct {
	// gc includes markIdle: marking on processors that had nothing else
	// to run, which costs the program nothing, so the share leaves it out
	// (as the runtime's own GC CPU fraction and cap do).
	gc, markIdle, total, idle float64 // CPU-seconds
	live                      uint64  // bytes
}

var gcSampleNames = []string{"/cpu/classes/gc/total:cpu-seconds", "/cpu/classes/gc/mark/idle:cpu-seconds",
	"/cpu/classes/total:cpu-seconds", "/cpu/classes/idle:cpu-seconds", "/gc/heap/live:bytes"}

func readGCSample() gcSample {
	s := make([]rtmetrics.Sample, len(gcSampleNames))
	for i, n := range gcSampleNames {
		s[i].Name = n
	}
	rtmetrics.Read(s)
	f := func(i int) float64 {
		if s[i].Value.Kind() != rtmetrics.KindFloat64 {
			return 0
		}
		return s[i].Value.Float64()
	}
	var live uint64
	if s[4].Value.Kind() == rtmetrics.KindUint64 {
		live = s[4].Value.Uint64()
	}
	return gcSample{gc: f(0), markIdle: f(1), total: f(2), idle: f(3), live: live}
}

// gcShare is the collector's share of the CPU the process used between two
// samples, idle time and idle marking left out; 0 when it used none (no
// collection ended between them).
func gcShare(prev, cur gcSample) float64 {
	markIdle := cur.markIdle - prev.markIdle
	used := (cur.total - cur.idle) - (prev.total - prev.idle) - markIdle
	if used <= 0 {
		return 0
	}
	return (cur.gc - prev.gc - markIdle) / used
}

// watchGC warns while the collector takes more than gcWarnShare of the
// CPU, sampling every period (gcWatchEvery), until ctx ends. memoryLimit is
// --memory-limit-mib's, in force (Run does not start the watch under a
// GOMEMLIMIT, which the flag does not change).
func watchGC(ctx context.Context, log *zap.Logger, memoryLimit int64, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	prev, warned := readGCSample(), time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			cur := readGCSample()
			share := gcShare(prev, cur)
			prev = cur
			if share < gcWarnShare || (!warned.IsZero() && now.Sub(warned) < gcWarnEvery) {
				continue
			}
			warned = now
			log.Warn("the garbage collector takes a large share of the aggregator's CPU: the live heap fills most of the memory limit; "+
				"raise --memory-limit-mib within the memory the process can have (memory buys CPU), or lower --max-dirty or the partitions each process owns",
				zap.Float64("gc_cpu_share", share), zap.Uint64("live_heap_mib", cur.live>>20),
				zap.Int64("memory_limit_mib", memoryLimit>>20), zap.Int64("runtime_limit_mib", debug.SetMemoryLimit(-1)>>20))
		}
	}
}
