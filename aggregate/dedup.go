package aggregate

import (
	"hash/maphash"
)

// dedupSet recognises a second delivery of (tenant, event_id) while the
// first is within the horizon of the partition's event-time clock.
//
// The decision is a pure function of the partition's message sequence from
// the replay start on: each entry holds the clock at its insertion, and an
// entry counts only while that clock is within the horizon of the current
// one. Lazy eviction therefore never changes a decision, and a restart that
// replays from ReplayFrom with the clock set to ReplayMaxTime rebuilds
// exactly the entries that matter.
type dedupSet struct {
	seed1, seed2 maphash.Seed
	seen         map[[2]uint64]int64 // key hash -> clock at insertion
	fifo         []dedupEntry        // insertion order, for eviction and the replay start
	head         int
}

type dedupEntry struct {
	key    [2]uint64
	clock  int64
	offset int64
}

func newDedupSet() *dedupSet {
	return &dedupSet{seed1: maphash.MakeSeed(), seed2: maphash.MakeSeed(), seen: map[[2]uint64]int64{}}
}

// hash is 128 bits wide, so that a false duplicate (which would drop a real
// event) is out of the question at any realistic volume.
func (d *dedupSet) hash(tenant, eventID string) [2]uint64 {
	var h1, h2 maphash.Hash
	h1.SetSeed(d.seed1)
	h2.SetSeed(d.seed2)
	h1.WriteString(tenant)
	h1.WriteByte(0)
	h1.WriteString(eventID)
	h2.WriteString(eventID)
	h2.WriteByte(0)
	h2.WriteString(tenant)
	return [2]uint64{h1.Sum64(), h2.Sum64()}
}

// admit reports whether the event is a duplicate at clock (the partition's
// max event time including this event), and records it if not.
func (d *dedupSet) admit(tenant, eventID string, clock, horizon, offset int64) bool {
	k := d.hash(tenant, eventID)
	if c, ok := d.seen[k]; ok && c >= clock-horizon {
		return true
	}
	d.seen[k] = clock
	d.fifo = append(d.fifo, dedupEntry{k, clock, offset})
	return false
}

// evict drops entries that can no longer match and returns the replay start
// (the offset of the oldest entry that still can) and that entry's clock;
// ok is false when no entry remains.
func (d *dedupSet) evict(clock, horizon int64) (replayFrom, replayClock int64, ok bool) {
	for d.head < len(d.fifo) && d.fifo[d.head].clock < clock-horizon {
		e := d.fifo[d.head]
		if c, found := d.seen[e.key]; found && c == e.clock {
			delete(d.seen, e.key)
		}
		d.head++
	}
	if d.head > 4096 && d.head > len(d.fifo)/2 { // compact
		d.fifo = append(d.fifo[:0], d.fifo[d.head:]...)
		d.head = 0
	}
	if d.head == len(d.fifo) {
		return 0, 0, false
	}
	return d.fifo[d.head].offset, d.fifo[d.head].clock, true
}

func (d *dedupSet) len() int { return len(d.seen) }
