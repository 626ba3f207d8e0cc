package aggregate

import (
	"context"
	"fmt"
	"hash/maphash"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/sink"
)

// The stored-keys filter never misses a key it was given, answers "may be
// stored" for windows it does not cover, counts a key added twice once
// (flushes add the same states again), and rarely holds a key it was not
// given.
func TestStoredKeysNeverMissAKey(t *testing.T) {
	f := &storedKeys{bits: make([]uint64, storedFilterBits/64), seed: maphash.MakeSeed(), from: [numRes + 1]int64{1000, 1000, 1000, 1000}, built: true}
	const n = 200_000
	key := func(i int) usageKey {
		return usageKey{window: int64(1000 + i%5000), tenant: fmt.Sprint("t", i), model: "m"}
	}
	for i := range n {
		k := key(i)
		f.add(f.usageHash(resDay, &k))
		f.add(f.usageHash(resDay, &k))
	}
	if f.n < n*99/100 || f.n > n {
		t.Fatalf("%d keys counted for %d distinct keys added twice", f.n, n)
	}
	for i := range n {
		if k := key(i); !f.mayHold(resDay, k.window, f.usageHash(resDay, &k)) {
			t.Fatalf("key %+v added but missed", k)
		}
	}
	falsePos := 0
	for i := n; i < 2*n; i++ {
		k := key(i)
		if f.mayHold(resDay, k.window, f.usageHash(resDay, &k)) {
			falsePos++
		}
		if k2 := key(i - n); f.mayHold(resMinute, k2.window, f.usageHash(resMinute, &k2)) {
			falsePos++ // the same key at another resolution is another key
		}
	}
	if falsePos > 2*n/100 {
		t.Fatalf("%d false positives in %d lookups", falsePos, 2*n)
	}
	if k := (usageKey{window: 999}); !f.mayHold(resDay, k.window, f.usageHash(resDay, &k)) {
		t.Fatal("a window below the filter's coverage must count as maybe stored")
	}
}

// A late event of the month holding the correction horizon's start, for a
// key never stored, starts from zero without a load: the filter covers
// that whole month's states (it used to cover only windows starting after
// the horizon's first day, so every such month key was loaded).
func TestStoredKeysCoverTheMonthOfTheHorizonStart(t *testing.T) {
	cfg := DefaultConfig()
	cat := pricing.MustDefault()
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	msg := func(off int64, at time.Time, tenant string) kafka.Message {
		ev := schemas.Event{EventID: fmt.Sprint("e", off), Time: at, Tenant: tenant, TaskID: fmt.Sprint("task", off),
			Provider: "openai", Model: "gpt-4o", Usage: schemas.Usage{InputTokens: 10, OutputTokens: 1}}
		return kafka.Message{Offset: off, Value: schemas.AppendJSON(nil, &ev), Time: now}
	}
	// The horizon (35 days) starts on January 25th: a late event of
	// January 28th corrects the January month state.
	msgs := []kafka.Message{msg(0, now, "t"), msg(1, now.Add(-32*24*time.Hour), "new-tenant")}
	st := newMemStore()
	p := newPartition(0, &cfg, cat)
	p.startFresh(0)
	if err := p.activate(ctx, st, now); err != nil {
		t.Fatal(err)
	}
	for i := range msgs {
		p.process(&msgs[i])
		st.flush(t, ctx, p)
	}
	if n := st.loadedBy[sink.UsageMonthlyTable]; n != 0 {
		t.Fatalf("%d month keys loaded for a key never stored", n)
	}
	for _, table := range []string{sink.UsageTable, sink.UsageDailyTable, sink.UsageMonthlyTable} {
		if got, _, _, _ := st.usageTotals(table); got != 2 {
			t.Fatalf("%s holds %d requests, want 2", table, got)
		}
	}
}
