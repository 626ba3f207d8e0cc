package aggregate

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestMonthResolutionKeysCalendarMonths(t *testing.T) {
	r := newUsageRes("m", 0)
	for _, tt := range []struct {
		name string
		t    time.Time
		want time.Time
	}{
		{"the first instant of a month is its own start", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"the last millisecond of February belongs to February", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).Add(-time.Millisecond), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
		{"a leap day belongs to its February", time.Date(2028, 2, 29, 13, 0, 0, 0, time.UTC), time.Date(2028, 2, 1, 0, 0, 0, 0, time.UTC)},
		{"the last second of a year belongs to its December", time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		{"a month is the UTC one whatever the event's zone", time.Date(2026, 4, 1, 1, 0, 0, 0, time.FixedZone("+02", 7200)), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.start(tt.t.UnixMilli()); got != tt.want.UnixMilli() {
				t.Fatalf("start = %s, want %s", time.UnixMilli(got).UTC(), tt.want)
			}
		})
	}
}

func TestMonthFloorFollowsTheWatermark(t *testing.T) {
	r := newUsageRes("m", 0)
	late := 2 * time.Minute.Milliseconds()
	if got := r.floorAt(noTime, late); got != noTime {
		t.Fatalf("floor of a partition without events = %d, want noTime", got)
	}
	march := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	// Until the watermark (clock - lateness) passes midnight, February may
	// still receive on-time events.
	if got, want := r.floorAt(march.Add(time.Minute).UnixMilli(), late), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC).UnixMilli(); got != want {
		t.Fatalf("floor one minute into March = %s, want February", time.UnixMilli(got).UTC())
	}
	if got := r.floorAt(march.Add(2*time.Minute).UnixMilli(), late); got != march.UnixMilli() {
		t.Fatalf("floor two minutes into March = %s, want March", time.UnixMilli(got).UTC())
	}
	// No coarser floor is above a finer one: a late month is a late minute.
	day, minute := newUsageRes("d", 24*time.Hour), newUsageRes("m", time.Minute)
	for c := march.Add(-time.Hour); c.Before(march.Add(time.Hour)); c = c.Add(17 * time.Second) {
		ms := c.UnixMilli()
		if !(r.floorAt(ms, late) <= day.floorAt(ms, late) && day.floorAt(ms, late) <= minute.floorAt(ms, late)) {
			t.Fatalf("at %s the floors are month %d, day %d, minute %d", c, r.floorAt(ms, late), day.floorAt(ms, late), minute.floorAt(ms, late))
		}
	}
}

// The cached month start is monthStart's, in any order of times: month
// ends, leap days, before 1970, and jumps back and forth.
func TestMonthCacheIsMonthStart(t *testing.T) {
	var c monthCache
	rng := rand.New(rand.NewPCG(3, 4))
	times := []int64{0, -1, 1, time.Date(2024, 2, 29, 23, 59, 59, 999e6, time.UTC).UnixMilli(),
		time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), time.Date(2024, 2, 29, 23, 59, 59, 999e6, time.UTC).UnixMilli(),
		time.Date(1969, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli(), time.Date(2105, 12, 31, 23, 59, 59, 0, time.UTC).UnixMilli()}
	for range 200_000 {
		switch last := times[len(times)-1]; rng.IntN(3) {
		case 0: // near the last one, as a stream's are
			times = append(times, last+rng.Int64N(2*86_400_000)-86_400_000)
		default:
			times = append(times, rng.Int64N(5_000_000_000_000)-1_000_000_000_000)
		}
	}
	for _, ts := range times {
		if got, want := c.start(ts), monthStart(ts); got != want {
			t.Fatalf("month start of %d (%s): got %d, want %d", ts, time.UnixMilli(ts).UTC(), got, want)
		}
	}
}
