package aggregate

import (
	"hash/maphash"
	"math/bits"
)

// dedupSet recognises a second delivery of (tenant, event_id) while the
// first is within the horizon of the partition's event-time clock, or among
// the partition's last max/4 messages (so a retry close behind its original
// counts once even when the clock jumps, as it does at the start of a
// backfill of history).
//
// The decision is a pure function of the partition's message sequence from
// the replay start on: each entry holds the clock at its insertion, and an
// entry counts only while that clock is within the horizon of the current
// one. Lazy eviction therefore never changes a decision, and a restart that
// replays from ReplayFrom with the clock set to ReplayMaxTime rebuilds
// exactly the entries that matter.
//
// Memory is bounded by max entries whatever the arrival order: when the
// clock stalls (a backfill of history arrives after newer events) nothing
// expires, so past max the oldest entries leave early. Which ones leave is
// again a function of the message sequence only (entries that expired go
// first, then the oldest), and the replay start follows the oldest entry
// kept, so a replay still decides as the live run did. The price: a retry
// arriving more than max distinct events after its original, while the
// clock stalls, counts twice (counted in early).
type dedupSet struct {
	seeds [4]maphash.Seed
	seen  map[[2]uint64]seenAt // key hash -> its insertion
	fifo  [][]dedupEntry       // insertion order in fixed-size blocks, for eviction and the replay start
	head  int                  // next entry to evict in fifo[0]
	max   int                  // entries kept at most
	early int64                // entries dropped before their horizon ended
}

const dedupBlock = 8192

type seenAt struct{ clock, offset int64 }

// near is how many messages back an entry matches whatever its clock.
func (d *dedupSet) near() int64 { return int64(d.max / 4) }

type dedupEntry struct {
	key    [2]uint64
	clock  int64
	offset int64
}

func newDedupSet(max int) *dedupSet {
	d := &dedupSet{seen: map[[2]uint64]seenAt{}, max: max}
	for i := range d.seeds {
		d.seeds[i] = maphash.MakeSeed()
	}
	return d
}

// hash is 128 bits wide, so that a false duplicate (which would drop a real
// event) is out of the question at any realistic volume.
func (d *dedupSet) hash(tenant, eventID string) [2]uint64 {
	t1, t2 := maphash.String(d.seeds[2], tenant), maphash.String(d.seeds[3], tenant)
	return [2]uint64{
		maphash.String(d.seeds[0], eventID) ^ t1,
		maphash.String(d.seeds[1], eventID) ^ bits.RotateLeft64(t2, 29),
	}
}

// admit reports whether the event is a duplicate at clock (the partition's
// max event time including this event), and records it if not.
func (d *dedupSet) admit(tenant, eventID string, clock, horizon, offset int64) bool {
	k := d.hash(tenant, eventID)
	if at, ok := d.seen[k]; ok && (at.clock >= clock-horizon || at.offset >= offset-d.near()) {
		return true
	}
	d.seen[k] = seenAt{clock, offset}
	if n := len(d.fifo); n == 0 || len(d.fifo[n-1]) == dedupBlock {
		d.fifo = append(d.fifo, make([]dedupEntry, 0, dedupBlock))
	}
	last := &d.fifo[len(d.fifo)-1]
	*last = append(*last, dedupEntry{k, clock, offset})
	if len(d.seen) > d.max {
		d.evict(clock, horizon, offset+1)
		for len(d.seen) > d.max {
			d.dropOldest()
		}
	}
	return false
}

// dropOldest removes the oldest entry although it could still match.
func (d *dedupSet) dropOldest() {
	block := d.fifo[0]
	e := block[d.head]
	if at, found := d.seen[e.key]; found && at.offset == e.offset {
		delete(d.seen, e.key)
		d.early++
	}
	d.head++
	if d.head == len(block) && len(block) == dedupBlock {
		d.fifo, d.head = d.fifo[1:], 0
	}
}

// evict drops entries that can no longer match (next is the next offset
// to process) and returns the replay start (the offset of the oldest entry
// that still can) and that entry's clock; ok is false when no entry remains.
// Entries are in offset order with nondecreasing clocks, so those that can
// no longer match are a prefix.
func (d *dedupSet) evict(clock, horizon, next int64) (replayFrom, replayClock int64, ok bool) {
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
		if len(block) < dedupBlock { // the open block, now empty
			d.fifo[0], d.head = block[:0], 0
			return 0, 0, false
		}
		d.fifo, d.head = d.fifo[1:], 0
	}
	return 0, 0, false
}

func (d *dedupSet) len() int { return len(d.seen) }
