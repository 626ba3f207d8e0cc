package aggregate

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/jevonsdev/jevons/schemas"
)

// BenchmarkProcess measures the per-event work of the aggregator on one
// core: decode and validate the JSON, check times, deduplicate, price twice
// (own time and reference) and update the usage and task window states.
// Kafka and ClickHouse are not involved.
func BenchmarkProcess(b *testing.B) {
	models := []string{"gpt-4o-2024-11-20", "gpt-4o-mini", "o3-mini"}
	benchProcess(b, func(i int, ev *schemas.Event) {
		ev.Tenant, ev.TaskType, ev.App, ev.Model = fmt.Sprintf("tenant-%02d", i%20), "agent-run", "code-assistant", models[i%3]
	})
}

// BenchmarkProcessRandomDims is BenchmarkProcess with the dimensions drawn
// independently, as `jevons bench --dims random` does: 20 tenants x 5 apps
// x 6 task types x 3 models, thousands of usage keys per minute.
func BenchmarkProcessRandomDims(b *testing.B) {
	models := []string{"gpt-4o-2024-11-20", "gpt-4o-mini", "o3-mini"}
	apps := []string{"chat", "code-assistant", "support-bot", "search", "batch-summarizer"}
	taskTypes := []string{"chat-turn", "code-review", "agent-run", "summarize", "extract", "rag-answer"}
	benchProcess(b, func(i int, ev *schemas.Event) {
		h := uint(i) * 0x9e3779b1 // a fixed scramble: every combination, in no order
		ev.Tenant, ev.App, ev.TaskType, ev.Model = fmt.Sprintf("tenant-%02d", h%20), apps[h/20%5], taskTypes[h/100%6], models[h/600%3]
	})
}

func benchProcess(b *testing.B, dims func(i int, ev *schemas.Event)) {
	p := activePartition()
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	const n = 1 << 16
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		ev := schemas.Event{EventID: fmt.Sprintf("01J9ZK3Q8R6W1M2N%010d", i), Time: base.Add(time.Duration(i) * time.Millisecond),
			TaskID: fmt.Sprintf("task-%d", i/5), Provider: "openai", LatencyMs: 812,
			Usage: schemas.Usage{InputTokens: 12000, OutputTokens: 900, CacheReadTokens: 8000, ReasoningTokens: 300}}
		dims(i, &ev)
		msgs[i] = kafka.Message{Value: schemas.AppendJSON(nil, &ev), Time: ev.Time}
	}
	b.ReportAllocs()
	b.ResetTimer()
	// CPU time of the timed parts: on a shared machine wall time per event
	// measures the neighbours as much as the code.
	var cpu time.Duration
	cpuStart := cpuTime()
	for i := range b.N {
		m := msgs[i%n]
		m.Offset = int64(i)
		if i%n == 0 && i > 0 { // keep event times moving forward, as a live partition's do
			b.StopTimer()
			cpu += cpuTime() - cpuStart
			shift := time.Duration(i) * time.Millisecond
			for j := range msgs {
				ev := schemas.Event{}
				var d schemas.Decoder
				_ = d.Decode(msgs[j].Value, &ev)
				ev.Time = ev.Time.Add(shift)
				ev.EventID = fmt.Sprintf("01J9ZK3Q8R6W1M2N%010d", i+j) // unique, and as long as the first round's
				msgs[j].Value, msgs[j].Time = schemas.AppendJSON(nil, &ev), ev.Time
			}
			for i := range p.usage {
				p.usage[i].dirty = nil
			}
			p.dirtyTasks = nil
			b.StartTimer()
			cpuStart = cpuTime()
			m = msgs[0]
			m.Offset = int64(i)
		}
		if o := p.process(&m); o != outAggregated {
			b.Fatalf("message %d: outcome %s", i, outcomeNames[o])
		}
	}
	cpu += cpuTime() - cpuStart
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
