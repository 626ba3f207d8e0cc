package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jevonsdev/jevons/ingest/emit"
	"github.com/jevonsdev/jevons/ingest/loadgen"
	"github.com/jevonsdev/jevons/internal/procstat"
	"github.com/jevonsdev/jevons/internal/progress"
	"github.com/jevonsdev/jevons/internal/topics"
	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/schemas"
)

// liveWarmup is how many events the aggregators consume before the clock
// starts: enough for every partition to have been fetched and flushed once.
const liveWarmup = 5_000

// runLive measures the aggregators the way production runs them: started
// on an empty topic and caught up on a warm-up, they consume while the
// bench produces --events as fast as it can, and the clock runs from the
// first of those events until the rollups hold every event. The CPU time
// and rows written are counted over that span only.
func (b *bench) runLive(ctx context.Context, stdout io.Writer) error {
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	err := topics.Ensure(tctx, b.sec, b.brokers, b.topic, b.partitions, -1, topics.EventTopicConfig()...)
	cancel()
	if err != nil {
		return err
	}
	if err := b.migrate(ctx); err != nil {
		return err
	}
	defer b.conn.Close()
	aggs, err := b.startAggregators(ctx)
	if err != nil {
		return err
	}
	defer aggs.kill()
	warm, err := b.emitter()
	if err != nil {
		return err
	}
	main, err := b.emitter()
	if err != nil {
		_ = closeEmitter(ctx, warm)
		return err
	}
	// The events are generated and priced for the truth first (the warm-up
	// ones sent as they come): in the timed span the bench only sends
	// them, as fast as the emitter takes them.
	sink := &liveSink{warm: warm, left: liveWarmup}
	truth, err := loadgen.Run(ctx, b.loadgenConfig(liveWarmup+b.events), sink, pricing.MustDefault(), time.Time{}, 0, time.Now)
	if cerr := closeEmitter(ctx, warm); err == nil && cerr != nil {
		err = fmt.Errorf("warm-up: %w", cerr)
	}
	if err != nil {
		_ = closeEmitter(ctx, main)
		return err
	}
	fmt.Fprintf(b.stderr, "bench: %d warm-up events; waiting for the aggregators to catch up\n", liveWarmup)
	if err := b.waitCaughtUp(ctx, 5*time.Minute); err != nil {
		_ = closeEmitter(ctx, main)
		return fmt.Errorf("warm-up: %w", err)
	}
	before, err := aggs.sample(ctx)
	if err != nil {
		_ = closeEmitter(ctx, main)
		return err
	}
	fmt.Fprintf(b.stderr, "bench: producing %d events (dims %s) while the aggregators consume\n", b.events, b.dims)
	start, benchCPU := time.Now(), procstat.CPUSeconds(os.Getpid()) // this process's CPU from here: the producer's
	err = sink.send(ctx, main)
	if err == nil {
		err = closeEmitter(ctx, main)
	} else {
		_ = closeEmitter(ctx, main)
	}
	if err != nil {
		return err
	}
	produceSecs := time.Since(start).Seconds()
	benchCPU = procstat.CPUSeconds(os.Getpid()) - benchCPU
	waitErr := b.waitCaughtUp(ctx, 30*time.Minute)
	pipeSecs := time.Since(start).Seconds()
	after, rss, err := aggs.finish(ctx, waitErr)
	if err != nil {
		return err
	}

	// The raw kafka-go consumer over the same messages afterwards, for the
	// ratio: what fetching alone costs on this machine.
	fmt.Fprintln(b.stderr, "bench: raw kafka-go consumer over the same messages")
	rawStart := time.Now()
	if err := rawConsume(ctx, b.sec, b.brokers, b.topic, b.run+"-raw", int(truth.Messages)); err != nil {
		return err
	}
	rawEPS := float64(truth.Messages) / time.Since(rawStart).Seconds()
	n := float64(b.events)
	out := map[string]any{
		"mode": "live", "events": b.events, "warmup_events": liveWarmup,
		"produce_eps": n / produceSecs, "pipeline_eps": n / pipeSecs, "lag_after_produce_s": pipeSecs - produceSecs,
		"raw_fetch_eps": rawEPS, "ratio": n / pipeSecs / rawEPS,
		"cpu_s_per_million":          (after.cpuSecs - before.cpuSecs) / n * 1e6,
		"rows_per_event":             (after.rowsWritten - before.rowsWritten) / n,
		"alloc_bytes_per_event":      (after.allocBytes - before.allocBytes) / n,
		"gc_cycles_per_million":      (after.gcCycles - before.gcCycles) / n * 1e6,
		"gc_cpu_s_per_million":       (after.gcCPUSecs - before.gcCPUSecs) / n * 1e6,
		"producer_cpu_s_per_million": benchCPU / n * 1e6,
	}
	return b.finish(ctx, stdout, truth, rss, after, out)
}

// waitCaughtUp waits until the rollups hold every message now in the topic.
func (b *bench) waitCaughtUp(ctx context.Context, timeout time.Duration) error {
	ends, err := progress.EndOffsets(ctx, b.sec, b.brokers, b.topic)
	if err != nil {
		return err
	}
	return progress.WaitCaughtUp(ctx, b.conn, b.run, b.run, b.topic, ends, timeout)
}

// liveSink sends the first left messages to warm and keeps the rest, in
// order and encoded as emit.Emit encodes them, for send: in the timed span
// the bench only hands messages to the emitter, as a producer such as kcat
// sends messages it has already, and spends its CPU (which this machine's
// aggregators and broker share) on sending alone.
type liveSink struct {
	warm *emit.Emitter
	left int
	kept []liveMessage
}

type liveMessage struct{ key, value []byte }

func (s *liveSink) Emit(ctx context.Context, ev *schemas.Event) error {
	if s.left > 0 {
		s.left--
		return s.warm.Emit(ctx, ev)
	}
	cp := *ev // encoding applies the defaults: to a copy, as sending a copy did
	key, value, err := emit.Encode(&cp)
	if err != nil {
		return err
	}
	s.kept = append(s.kept, liveMessage{key, value})
	return nil
}

func (s *liveSink) EmitRaw(ctx context.Context, key, value []byte) error {
	if s.left > 0 {
		s.left--
		return s.warm.EmitRaw(ctx, key, value)
	}
	s.kept = append(s.kept, liveMessage{key: key, value: value})
	return nil
}

// send emits the kept messages in order.
func (s *liveSink) send(ctx context.Context, em *emit.Emitter) error {
	for i, m := range s.kept {
		if err := em.EmitRaw(ctx, m.key, m.value); err != nil {
			return fmt.Errorf("emit message %d: %w", i, err)
		}
	}
	return nil
}
