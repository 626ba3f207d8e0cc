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
//
// # Layout: about 18 bytes an entry, no pointers
//
// Entries live in insertion order (offset order, nondecreasing clock) in
// fixed-size chunks of a 64-bit fingerprint and a 32-bit clock and offset
// delta from the entry's segment (a run of entries sharing a base clock and
// offset; a new one starts when a delta would not fit). Insertion order is
// expiry order, so expiry drops whole chunks. An open-addressing table of
// 32-bit slots (a 7-bit tag of the fingerprint and the entry's sequence
// number) finds an entry by key; slots of expired entries are reused and
// the table is rebuilt from the chunks as it fills, at a load factor of
// 0.7 to 0.85: 12 bytes of chunk and 4.7 to 5.7 of table per entry, read
// from the allocations themselves by bytes().
//
// # No false duplicate in practice
//
// The fingerprint is a 64-bit keyed hash of (tenant, event_id) with a
// random seed. A lookup compares the full fingerprint only with entries in
// its probe run that share its tag: at most a few per lookup on average
// (the run is about 25 slots at a load of 0.85, one in 127 shares the tag),
// so even counting every slot of a 64-slot run as a comparison, 10^15
// events make at most 6.4e16 comparisons, each a false match with
// probability 2^-64 = 5.4e-20: about 0.003 false duplicates expected in
// 10^15 events (about 5e-5 with the tags). A false duplicate would drop a
// real event; this is why the fingerprint is 64 bits and not fewer.
type dedupSet struct {
	seeds [2]maphash.Seed
	max   int   // live entries kept at most
	early int64 // entries dropped before their horizon ended

	chunks []*dedupChunk // entries head..tail-1; chunks[0] holds head
	spare  *dedupChunk   // one emptied chunk kept for reuse
	segs   []dedupSeg    // segments covering head..tail-1, by start
	head   uint64        // sequence number of the oldest entry
	tail   uint64        // sequence number of the next entry
	live   int           // entries that can still be found: the set's size

	index   []uint32 // tag<<seqBits | seq mod 2^seqBits; 0: empty
	used    int      // slots not empty (live or pointing below head)
	dead    int      // slots pointing below head: reusable
	rebuilt uint64   // head at the last rebuild: no slot points below it
}

const (
	dedupChunkLen = 4096
	seqBits       = 25
	seqMask       = 1<<seqBits - 1
	tagMask       = 1<<(32-seqBits) - 1
	// maxDedupEntries bounds DedupMaxEntries: every slot's sequence
	// number must be unambiguous within 2^seqBits, so the entries in the
	// chunks stay below 2^(seqBits-1) and the table is rebuilt before it
	// could hold slots 2^seqBits apart.
	maxDedupEntries = 1 << (seqBits - 2)
	clockBits       = 20 // a segment spans at most 2^20 ms (17 minutes) of clock
	offBits         = 32 - clockBits
)

// dedupChunk holds dedupChunkLen entries in insertion order. A fingerprint
// of 0 marks an entry superseded by a later insertion of its key.
type dedupChunk struct {
	fp   [dedupChunkLen]uint64
	meta [dedupChunkLen]uint32 // clock delta << offBits | offset delta, from the segment
}

// dedupSeg is the base of the entries from sequence number start on.
type dedupSeg struct {
	start         uint64
	clock, offset int64
}

// near is how many messages back an entry matches whatever its clock.
func (d *dedupSet) near() int64 { return int64(d.max / 4) }

func newDedupSet(max int) *dedupSet {
	d := &dedupSet{max: max, index: make([]uint32, 1024)}
	for i := range d.seeds {
		d.seeds[i] = maphash.MakeSeed()
	}
	return d
}

// hash is the key's fingerprint, never 0. Tenant names cannot contain
// every byte, but mixing two independent hashes needs no separator.
func (d *dedupSet) hash(tenant, eventID string) uint64 {
	h := maphash.String(d.seeds[0], eventID) ^ bits.RotateLeft64(maphash.String(d.seeds[1], tenant), 29)
	if h == 0 {
		h = 1
	}
	return h
}

func tagOf(h uint64) uint32 { return uint32(h&tagMask) | 1 }

// slotSeq returns the entry a slot points to, or false when it points
// below head (its entry left).
func (d *dedupSet) slotSeq(s uint32) (uint64, bool) {
	rel := (s - uint32(d.head)) & seqMask
	if uint64(rel) >= d.tail-d.head {
		return 0, false
	}
	return d.head + uint64(rel), true
}

// find returns the slot of the entry with fingerprint h, or -1, and the
// first reusable slot of h's probe run.
func (d *dedupSet) find(h uint64) (hit, free int) {
	n := uint64(len(d.index))
	i, _ := bits.Mul64(h, n)
	tag := tagOf(h)
	free = -1
	for {
		s := d.index[i]
		if s == 0 {
			if free < 0 {
				free = int(i)
			}
			return -1, free
		}
		if seq, ok := d.slotSeq(s); !ok {
			if free < 0 {
				free = int(i)
			}
		} else if s>>seqBits == tag && d.chunk(seq).fp[seq%dedupChunkLen] == h {
			return int(i), free
		}
		if i++; i == n {
			i = 0
		}
	}
}

func (d *dedupSet) chunk(seq uint64) *dedupChunk {
	return d.chunks[seq/dedupChunkLen-d.head/dedupChunkLen]
}

// at returns an entry's insertion clock and offset.
func (d *dedupSet) at(seq uint64) (clock, offset int64) {
	lo, hi := 0, len(d.segs) // the last segment starting at or before seq
	for hi-lo > 1 {
		if mid := (lo + hi) / 2; d.segs[mid].start <= seq {
			lo = mid
		} else {
			hi = mid
		}
	}
	j := lo
	m := d.chunk(seq).meta[seq%dedupChunkLen]
	return d.segs[j].clock + int64(m>>offBits), d.segs[j].offset + int64(m&(1<<offBits-1))
}

// admit reports whether the event is a duplicate at clock (the partition's
// max event time including this event), and records it if not.
func (d *dedupSet) admit(tenant, eventID string, clock, horizon, offset int64) bool {
	h := d.hash(tenant, eventID)
	hit, slot := d.find(h)
	if hit >= 0 {
		seq, _ := d.slotSeq(d.index[hit])
		c, o := d.at(seq)
		if c >= clock-horizon || o >= offset-d.near() {
			return true
		}
		d.chunk(seq).fp[seq%dedupChunkLen] = 0 // superseded: this insertion takes its slot
		d.live--
		slot = hit
	} else if d.index[slot] == 0 {
		d.used++
	} else {
		d.dead--
	}
	d.index[slot] = tagOf(h)<<seqBits | uint32(d.tail)&seqMask
	d.push(h, clock, offset)
	d.live++
	if d.live > d.max || d.tail-d.head >= maxDedupEntries*2 {
		d.evict(clock, horizon, offset+1)
		for d.live > d.max {
			d.dropOldest()
		}
	}
	d.resize()
	return false
}

// push appends an entry at sequence number tail.
func (d *dedupSet) push(h uint64, clock, offset int64) {
	if d.tail%dedupChunkLen == 0 {
		c := d.spare
		if d.spare = nil; c == nil {
			c = new(dedupChunk)
		}
		d.chunks = append(d.chunks, c)
	}
	n := len(d.segs)
	if n == 0 || clock < d.segs[n-1].clock || offset < d.segs[n-1].offset ||
		clock-d.segs[n-1].clock >= 1<<clockBits || offset-d.segs[n-1].offset >= 1<<offBits {
		d.segs = append(d.segs, dedupSeg{d.tail, clock, offset})
		n++
	}
	s := &d.segs[n-1]
	c := d.chunks[len(d.chunks)-1]
	c.fp[d.tail%dedupChunkLen] = h
	c.meta[d.tail%dedupChunkLen] = uint32(clock-s.clock)<<offBits | uint32(offset-s.offset)
	d.tail++
}

// pop removes the oldest entry and reports whether it could still be found.
func (d *dedupSet) pop() bool {
	seq := d.head
	found := d.chunk(seq).fp[seq%dedupChunkLen] != 0
	if found {
		d.live--
		d.dead++
	}
	if d.head++; d.head%dedupChunkLen == 0 { // chunks[0] is spent
		d.spare, d.chunks[0] = d.chunks[0], nil
		d.chunks = d.chunks[1:]
	}
	for len(d.segs) > 1 && d.segs[1].start <= d.head {
		d.segs = d.segs[1:]
	}
	return found
}

// dropOldest removes the oldest entry although it could still match.
func (d *dedupSet) dropOldest() {
	if d.pop() {
		d.early++
	}
}

// evict drops entries that can no longer match (next is the next offset
// to process) and returns the replay start (the offset of the oldest entry
// that still can) and that entry's clock; ok is false when no entry remains.
// Entries are in offset order with nondecreasing clocks, so those that can
// no longer match are a prefix.
func (d *dedupSet) evict(clock, horizon, next int64) (replayFrom, replayClock int64, ok bool) {
	defer d.resize()
	for d.head < d.tail {
		c, o := d.at(d.head)
		if c >= clock-horizon || o >= next-d.near() {
			return o, c, true
		}
		d.pop()
	}
	return 0, 0, false
}

// resize rebuilds the table when it is too full (or mostly dead), too
// large for what it holds, or could hold slots 2^seqBits apart.
func (d *dedupSet) resize() {
	n := len(d.index)
	switch {
	case d.used*20 > n*17, d.live*5 < n*2 && n > 1024, d.tail-d.rebuilt >= 1<<(seqBits-1):
	default:
		return
	}
	size := max(d.live*10/7, 1024)
	if cap(d.index) >= size && cap(d.index) <= size*5/4 {
		d.index = d.index[:size]
		clear(d.index)
	} else {
		d.index = make([]uint32, size)
	}
	m := uint64(size)
	for seq := d.head; seq < d.tail; seq++ {
		h := d.chunk(seq).fp[seq%dedupChunkLen]
		if h == 0 {
			continue
		}
		i, _ := bits.Mul64(h, m)
		for d.index[i] != 0 {
			if i++; i == m {
				i = 0
			}
		}
		d.index[i] = tagOf(h)<<seqBits | uint32(seq)&seqMask
	}
	d.used, d.dead, d.rebuilt = d.live, 0, d.head
}

func (d *dedupSet) len() int { return d.live }

// bytes is the memory the set holds: its chunks, table and segments.
func (d *dedupSet) bytes() int64 {
	n := int64(len(d.chunks))
	if d.spare != nil {
		n++
	}
	const chunkBytes = dedupChunkLen * 12
	return n*chunkBytes + int64(cap(d.index))*4 + int64(cap(d.segs))*24 + int64(cap(d.chunks))*8
}
