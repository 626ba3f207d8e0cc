package aggregate

import (
	"fmt"
	"hash/maphash"
	"testing"
)

// The stored-keys filter never misses a key it was given, answers "may be
// stored" for windows it does not cover, counts a key added twice once
// (flushes add the same states again), and rarely holds a key it was not
// given.
func TestStoredKeysNeverMissAKey(t *testing.T) {
	f := &storedKeys{bits: make([]uint64, storedFilterBits/64), seed: maphash.MakeSeed(), from: 1000, built: true}
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
		if k := key(i); !f.mayHold(k.window, f.usageHash(resDay, &k)) {
			t.Fatalf("key %+v added but missed", k)
		}
	}
	falsePos := 0
	for i := n; i < 2*n; i++ {
		k := key(i)
		if f.mayHold(k.window, f.usageHash(resDay, &k)) {
			falsePos++
		}
		if k2 := key(i - n); f.mayHold(k2.window, f.usageHash(resMinute, &k2)) {
			falsePos++ // the same key at another resolution is another key
		}
	}
	if falsePos > 2*n/100 {
		t.Fatalf("%d false positives in %d lookups", falsePos, 2*n)
	}
	if k := (usageKey{window: 999}); !f.mayHold(k.window, f.usageHash(resDay, &k)) {
		t.Fatal("a window below the filter's coverage must count as maybe stored")
	}
}
