package aggregate

import (
	"fmt"
	"hash/maphash"
	"math/bits"
	"math/rand/v2"
	"testing"
)

// refDedup is the duplicate set as first written (a map of 128-bit hashes
// and a queue): the compact set must decide, count, drop and return replay
// starts exactly as it does.
type refDedup struct {
	seeds [4]maphash.Seed
	seen  map[[2]uint64]refSeen // key hash -> its insertion
	fifo  [][]refEntry          // insertion order in fixed-size blocks, for eviction and the replay start
	head  int                   // next entry to evict in fifo[0]
	max   int                   // entries kept at most
	early int64                 // entries dropped before their horizon ended
}

const refBlock = 8192

type refSeen struct{ clock, offset int64 }

// near is how many messages back an entry matches whatever its clock.
func (d *refDedup) near() int64 { return int64(d.max / 4) }

type refEntry struct {
	key    [2]uint64
	clock  int64
	offset int64
}

func newRefDedup(max int) *refDedup {
	d := &refDedup{seen: map[[2]uint64]refSeen{}, max: max}
	for i := range d.seeds {
		d.seeds[i] = maphash.MakeSeed()
	}
	return d
}

// hash is 128 bits wide, so that a false duplicate (which would drop a real
// event) is out of the question at any realistic volume.
func (d *refDedup) hash(tenant, eventID string) [2]uint64 {
	t1, t2 := maphash.String(d.seeds[2], tenant), maphash.String(d.seeds[3], tenant)
	return [2]uint64{
		maphash.String(d.seeds[0], eventID) ^ t1,
		maphash.String(d.seeds[1], eventID) ^ bits.RotateLeft64(t2, 29),
	}
}

// admit reports whether the event is a duplicate at clock (the partition's
// max event time including this event), and records it if not.
func (d *refDedup) admit(tenant, eventID string, clock, horizon, offset int64) bool {
	k := d.hash(tenant, eventID)
	if at, ok := d.seen[k]; ok && (at.clock >= clock-horizon || at.offset >= offset-d.near()) {
		return true
	}
	d.seen[k] = refSeen{clock, offset}
	if n := len(d.fifo); n == 0 || len(d.fifo[n-1]) == refBlock {
		d.fifo = append(d.fifo, make([]refEntry, 0, refBlock))
	}
	last := &d.fifo[len(d.fifo)-1]
	*last = append(*last, refEntry{k, clock, offset})
	if len(d.seen) > d.max {
		d.evict(clock, horizon, offset+1)
		for len(d.seen) > d.max {
			d.dropOldest()
		}
	}
	return false
}

// dropOldest removes the oldest entry although it could still match.
func (d *refDedup) dropOldest() {
	block := d.fifo[0]
	e := block[d.head]
	if at, found := d.seen[e.key]; found && at.offset == e.offset {
		delete(d.seen, e.key)
		d.early++
	}
	d.head++
	if d.head == len(block) && len(block) == refBlock {
		d.fifo, d.head = d.fifo[1:], 0
	}
}

// evict drops entries that can no longer match (next is the next offset
// to process) and returns the replay start (the offset of the oldest entry
// that still can) and that entry's clock; ok is false when no entry remains.
// Entries are in offset order with nondecreasing clocks, so those that can
// no longer match are a prefix.
func (d *refDedup) evict(clock, horizon, next int64) (replayFrom, replayClock int64, ok bool) {
	for len(d.fifo) > 0 {
		block := d.fifo[0]
		for d.head < len(block) && block[d.head].clock < clock-horizon && block[d.head].offset < next-d.near() {
			e := block[d.head]
			if at, found := d.seen[e.key]; found && at.offset == e.offset {
				delete(d.seen, e.key)
			}
			d.head++
		}
		if d.head < len(block) {
			return block[d.head].offset, block[d.head].clock, true
		}
		if len(block) < refBlock { // the open block, now empty
			d.fifo[0], d.head = block[:0], 0
			return 0, 0, false
		}
		d.fifo, d.head = d.fifo[1:], 0
	}
	return 0, 0, false
}

func (d *refDedup) len() int { return len(d.seen) }

func TestCompactDedupDecidesLikeTheMapItReplaced(t *testing.T) {
	var early int64
	for trial := range 12 {
		rng := rand.New(rand.NewPCG(uint64(trial), 11))
		max := 1000 + rng.IntN(3000)
		horizon := int64(1000 + rng.IntN(100_000))
		d, ref := newDedupSet(max), newRefDedup(max)
		var ids []string
		clock, stalled := int64(1_700_000_000_000), false
		for off := int64(0); off < 60_000; off++ {
			switch r := rng.IntN(1000); {
			case r < 3: // the clock jumps ahead (a backfill starts, a partition wakes up)
				clock += int64(rng.IntN(3_000_000))
			case r < 5:
				stalled = !stalled // history arrives behind the clock: nothing expires
			case !stalled:
				clock += int64(rng.IntN(40))
			}
			id := fmt.Sprintf("e%d", len(ids))
			if len(ids) > 0 && rng.IntN(8) == 0 { // a retry: recent, or far behind (past the horizon)
				back := rng.IntN(min(len(ids), 50))
				if rng.IntN(4) == 0 {
					back = rng.IntN(len(ids))
				}
				id = ids[len(ids)-1-back]
			} else {
				ids = append(ids, id)
			}
			tenant := fmt.Sprintf("t%d", rng.IntN(3))
			got, want := d.admit(tenant, id, clock, horizon, off), ref.admit(tenant, id, clock, horizon, off)
			if got != want || d.len() != ref.len() || d.early != ref.early {
				t.Fatalf("trial %d, offset %d: duplicate %v (want %v), %d entries (want %d), %d early (want %d)",
					trial, off, got, want, d.len(), ref.len(), d.early, ref.early)
			}
			if rng.IntN(500) == 0 { // a flush takes the replay start
				f1, c1, ok1 := d.evict(clock, horizon, off+1)
				f2, c2, ok2 := ref.evict(clock, horizon, off+1)
				if f1 != f2 || c1 != c2 || ok1 != ok2 || d.len() != ref.len() {
					t.Fatalf("trial %d, offset %d: replay start %d/%d/%v, want %d/%d/%v", trial, off, f1, c1, ok1, f2, c2, ok2)
				}
			}
		}
		early += d.early
	}
	if early == 0 {
		t.Fatal("no trial filled the set: the cap went untested")
	}
}
