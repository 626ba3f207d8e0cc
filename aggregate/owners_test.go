package aggregate

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/jevonsdev/jevons/pricing"
)

// writeRowsOnly lands a flush's dead letters and rows but not its
// checkpoint, as a crash between the two inserts would.
func (m *memStore) writeRowsOnly(b *flushBatch) {
	ckpt := m.ckpt
	m.write(b)
	m.ckpt = ckpt
}

// owner is one process owning the partition in a test: its own memory,
// the shared store.
type owner struct {
	t   *testing.T
	p   *partition
	st  *memStore
	off int64
}

func newOwner(t *testing.T, cfg *Config, st *memStore) *owner {
	o := &owner{t: t, st: st, p: newPartition(0, cfg, pricing.MustDefault())}
	if st.ckpt != nil {
		o.p.restore(*st.ckpt)
	} else {
		o.p.startFresh(0)
	}
	o.p.dlqThrough = -1
	for off := range st.dlq {
		o.p.dlqThrough = max(o.p.dlqThrough, off)
	}
	o.off = o.p.next
	return o
}

// step processes the next message; it reports false at the end.
func (o *owner) step(msgs []kafka.Message) bool {
	if o.off >= int64(len(msgs)) {
		return false
	}
	m := msgs[o.off]
	if !o.p.active && !o.p.replaying(m.Offset) {
		if err := o.p.activate(context.Background(), o.st, time.Now()); err != nil {
			o.t.Fatal(err)
		}
	}
	o.p.process(&m)
	o.off++
	return true
}

// flush makes the owner's changes durable; rowsOnly loses the checkpoint.
func (o *owner) flush(rowsOnly bool) {
	if o.p.pending() == 0 || !o.p.active {
		return
	}
	if err := o.p.resolveCold(context.Background(), o.st); err != nil {
		o.t.Fatal(err)
	}
	b, err := o.p.snapshot()
	if err != nil {
		o.t.Fatal(err)
	}
	if rowsOnly {
		o.st.writeRowsOnly(b)
	} else {
		o.st.write(b)
	}
	o.p.flushed(b)
}

// Orderings the atomic in-memory flush never produced: flushes whose rows
// landed but whose checkpoint did not (then a crash), and two owners of the
// same partition at once (a zombie that has not noticed the rebalance),
// both writing. The stored states must equal an uninterrupted run's.
func TestRowsWithoutCheckpointAndOverlappingOwnersStayExact(t *testing.T) {
	msgs, _, _ := stream(20_000, 17)
	cfg := DefaultConfig()
	cfg.Window, cfg.TaskWindow = time.Minute, 10*time.Minute
	clean := run(t, msgs, 700, nil)
	rng := rand.New(rand.NewPCG(17, 17))
	for trial := range 4 {
		st := newMemStore()
		a := newOwner(t, &cfg, st)
		var b *owner // the second owner, once started
		crashes, zombies := 0, 0
		for n := 0; ; n++ {
			moved := a.step(msgs)
			if b != nil {
				moved = b.step(msgs) || moved
			}
			if !moved {
				break
			}
			if n%500 == 499 {
				switch x := rng.IntN(10); {
				case x < 2 && crashes < 3: // rows land, the checkpoint does not, the owner dies
					crashes++
					a.flush(true)
					a = newOwner(t, &cfg, st)
				case x < 3 && b == nil && zombies < 2: // a second owner starts while the first goes on
					zombies++
					b = newOwner(t, &cfg, st)
				case x < 4 && b != nil: // the zombie finally stops
					b.flush(false)
					b = nil
				default:
					a.flush(false)
					if b != nil {
						b.flush(rng.IntN(2) == 0)
					}
				}
			}
		}
		a.flush(false)
		if b != nil {
			b.flush(false)
		}
		for table, rows := range clean.usage {
			for k, want := range rows {
				if got := st.usage[table][k]; got != want {
					t.Fatalf("trial %d: %s %+v: %+v, clean run %+v", trial, table, k, got, want)
				}
			}
			if len(st.usage[table]) != len(rows) {
				t.Fatalf("trial %d: %s holds %d states, clean run %d", trial, table, len(st.usage[table]), len(rows))
			}
		}
		for k, want := range clean.tasks {
			got := st.tasks[k]
			if got.Requests != want.Requests || got.CostNanos != want.CostNanos || got.Version != want.Version {
				t.Fatalf("trial %d: task %+v: %+v, clean run %+v", trial, k, got, want)
			}
		}
		if len(st.dlq) != len(clean.dlq) {
			t.Fatalf("trial %d: dead letters of %d offsets, clean run %d", trial, len(st.dlq), len(clean.dlq))
		}
		daysMatchMinutes(t, st)
	}
}
