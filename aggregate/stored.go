package aggregate

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"time"

	"github.com/jevonsdev/jevons/sink"
)

// storedKeys is a Bloom filter of the keys of a partition's states in
// ClickHouse, at every resolution and for tasks. A key it does not hold
// has no stored state: a late event for it starts from zero without a
// load. Without it, every late flush of a backfill loads keys scattered
// over the whole history, and each load reads the partition's stored
// states: the work grows with the square of the history.
//
// It never misses a stored key of a window it covers: it is built by
// reading the stored keys (after the checkpoint the partition restored
// from, and with no flush of this owner in flight), and every state a flush
// writes afterwards is added before the write. States of windows below its
// coverage, and every key once it holds too many for a useful error rate,
// are loaded as before. A false positive only costs a load that finds
// nothing.
type storedKeys struct {
	bits  []uint64
	seed  maphash.Seed
	from  [numRes + 1]int64 // covers windows >= from[kind] (unix ms), kind a resolution or storedTasks
	n     int               // distinct keys added since built
	built bool
	full  bool // built past storedFilterKeys: every key may be stored
}

// storedTasks is the kind of task keys in storedKeys.from; the usage
// resolutions are the others.
const storedTasks = numRes

const (
	storedFilterBits   = 1 << 22 // 512 KiB per partition
	storedFilterKeys   = 400_000 // about 1% false positives with 7 hashes
	storedFilterHashes = 7
)

// mayHold reports whether a state of kind (a resolution or storedTasks),
// key hash h and window w may be stored.
func (f *storedKeys) mayHold(kind int, w int64, h uint64) bool {
	if !f.built || f.full || w < f.from[kind] {
		return true
	}
	h1, h2 := uint32(h), uint32(h>>32)|1
	for i := range uint32(storedFilterHashes) {
		b := (h1 + i*h2) % storedFilterBits
		if f.bits[b/64]&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}

// add adds a key; n counts the keys that were not in yet (a flush adds
// the same states again and again), so it tracks the distinct keys held.
func (f *storedKeys) add(h uint64) {
	h1, h2 := uint32(h), uint32(h>>32)|1
	added := false
	for i := range uint32(storedFilterHashes) {
		b := (h1 + i*h2) % storedFilterBits
		if f.bits[b/64]&(1<<(b%64)) == 0 {
			f.bits[b/64] |= 1 << (b % 64)
			added = true
		}
	}
	if added {
		f.n++
	}
}

func (f *storedKeys) usageHash(res int, k *usageKey) uint64 {
	var h maphash.Hash
	h.SetSeed(f.seed)
	var b [9]byte
	b[0] = byte(res)
	binary.LittleEndian.PutUint64(b[1:], uint64(k.window))
	h.Write(b[:])
	for _, s := range [...]string{k.tenant, k.app, k.taskType, k.provider, k.model, k.operation, k.status} {
		h.WriteString(s)
		h.WriteByte(0)
	}
	return h.Sum64()
}

func (f *storedKeys) taskHash(k *taskKey) uint64 {
	var h maphash.Hash
	h.SetSeed(f.seed)
	var b [9]byte
	b[0] = 0xff
	binary.LittleEndian.PutUint64(b[1:], uint64(k.window))
	h.Write(b[:])
	h.WriteString(k.tenant)
	h.WriteByte(0)
	h.WriteString(k.taskID)
	return h.Sum64()
}

// buildStored (re)builds the filter from the stored keys of windows a late
// event can still reach: the correction horizon before the clock, with a
// day's margin, widened at each resolution to the start of the window
// holding it (the month of the horizon's first day, whose month states a
// late event of that day corrects). Called only with no flush in flight.
func (p *partition) buildStored(ctx context.Context, st store) error {
	f := &p.stored
	if f.built && (f.full || f.n < storedFilterKeys) {
		return nil
	}
	if f.bits == nil {
		f.bits, f.seed = make([]uint64, storedFilterBits/64), maphash.MakeSeed()
	} else {
		clear(f.bits)
	}
	f.built, f.n = false, 0
	from := int64(noTime) // no clock yet: cover every window
	if p.maxTime != noTime {
		from = windowStart(p.maxTime-p.cfg.CorrectionHorizon.Milliseconds(), 24*time.Hour.Milliseconds()) - 24*time.Hour.Milliseconds()
	}
	var cover [numRes + 1]int64
	for i := range p.usage {
		cover[i] = from
		if from != noTime {
			cover[i] = p.usage[i].start(from)
		}
		err := st.ScanUsageKeys(ctx, p.usage[i].table, p.id, cover[i], func(k *sink.UsageKey) {
			uk := usageKey{k.Window, k.Tenant, k.App, k.TaskType, k.Provider, k.Model, k.Operation, k.Status}
			f.add(f.usageHash(i, &uk))
		})
		if err != nil {
			return fmt.Errorf("read stored %s keys: %w", p.usage[i].table, err)
		}
	}
	cover[storedTasks] = from
	if from != noTime {
		cover[storedTasks] = windowStart(from, p.twin)
	}
	err := st.ScanTaskKeys(ctx, p.id, cover[storedTasks], func(k *sink.TaskKey) {
		f.add(f.taskHash(&taskKey{k.Window, k.Tenant, k.TaskID}))
	})
	if err != nil {
		return fmt.Errorf("read stored task keys: %w", err)
	}
	f.from, f.built = cover, true
	f.full = f.n >= storedFilterKeys
	return nil
}

// noteStored adds the keys of a flush's rows to the filter, before they
// are written.
func (p *partition) noteStored(b *flushBatch) {
	f := &p.stored
	if !f.built || f.full {
		return
	}
	for i := range b.usageSt {
		for _, s := range b.usageSt[i] {
			k := s.key.full()
			f.add(f.usageHash(i, &k))
		}
	}
	for _, s := range b.taskSt {
		f.add(f.taskHash(&s.key))
	}
}
