package loadgen

import (
	"context"
	"fmt"
	"time"

	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/schemas"
)

// Sink receives the traffic; *emit.Emitter is one.
type Sink interface {
	Emit(ctx context.Context, ev *schemas.Event) error
	EmitRaw(ctx context.Context, key, value []byte) error
}

// Run sends cfg.Events distinct events (plus the requested duplicates, bad
// messages and late events) to sink at up to rate events/s (0: as fast as
// the sink takes them) and returns the truth. now is the clock that stamps
// event times.
func Run(ctx context.Context, cfg Config, sink Sink, cat *pricing.Catalog, refDate time.Time, rate float64, now func() time.Time) (*Truth, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := newGenerator(cfg, now())
	truth := newTruth(cfg.Seed, cat, refDate)
	recent := make([]schemas.Event, 0, 1024) // candidates for duplicate delivery
	start := time.Now()
	for i := range cfg.Events {
		if rate > 0 && i%100 == 0 {
			if ahead := time.Duration(float64(i)/rate*float64(time.Second)) - time.Since(start); ahead > 0 {
				select {
				case <-ctx.Done():
					return truth, ctx.Err()
				case <-time.After(ahead):
				}
			}
		}
		if err := ctx.Err(); err != nil {
			return truth, err
		}
		ev, kind := g.next(now())
		if err := sink.Emit(ctx, &ev); err != nil {
			return truth, fmt.Errorf("emit event %d: %w", i, err)
		}
		truth.Messages++
		switch kind {
		case kindTooOld:
			truth.TooOld++
		default:
			if kind == kindLate {
				truth.Late++
			}
			if err := truth.add(&ev); err != nil {
				return truth, err
			}
			if len(recent) < cap(recent) {
				recent = append(recent, ev)
			} else {
				recent[g.rng.IntN(len(recent))] = ev
			}
		}
		if cfg.DupRatio > 0 && g.rng.Float64() < cfg.DupRatio && len(recent) > 0 {
			dup := recent[g.rng.IntN(len(recent))]
			if err := sink.Emit(ctx, &dup); err != nil {
				return truth, fmt.Errorf("emit duplicate: %w", err)
			}
			truth.Messages++
			truth.Duplicates++
		}
		if cfg.BadRatio > 0 && g.rng.Float64() < cfg.BadRatio {
			k, v := g.badMessage(now())
			if err := sink.EmitRaw(ctx, k, v); err != nil {
				return truth, fmt.Errorf("emit bad message: %w", err)
			}
			truth.Messages++
			truth.Bad++
		}
	}
	truth.DeadLetters = truth.Bad + truth.TooOld
	return truth, nil
}
