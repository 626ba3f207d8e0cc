//go:build race

package emit

// raceEnabled: the race detector's sync.Pool drops items at random, so a
// pooled buffer (lz4's 4 MiB blocks) is allocated again now and then, and a
// test of allocation figures leaves out what pools buffers.
const raceEnabled = true
