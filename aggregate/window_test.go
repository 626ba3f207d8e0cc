package aggregate

import (
	"testing"
	"time"
)

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

func TestWindowStart(t *testing.T) {
	minute, hour := time.Minute.Milliseconds(), time.Hour.Milliseconds()
	tests := []struct {
		name string
		t    int64
		size int64
		want int64
	}{
		{"an instant inside a minute belongs to that minute", ms("2025-06-01T12:34:56.789Z"), minute, ms("2025-06-01T12:34:00Z")},
		{"a window's first instant opens it", ms("2025-06-01T12:34:00Z"), minute, ms("2025-06-01T12:34:00Z")},
		{"the last millisecond stays in the window", ms("2025-06-01T12:34:59.999Z"), minute, ms("2025-06-01T12:34:00Z")},
		{"hour windows align to the hour", ms("2025-06-01T12:59:59Z"), hour, ms("2025-06-01T12:00:00Z")},
		{"times before 1970 floor downwards", ms("1969-12-31T23:59:30Z"), minute, ms("1969-12-31T23:59:00Z")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := windowStart(tt.t, tt.size); got != tt.want {
				t.Fatalf("windowStart = %s, want %s", time.UnixMilli(got).UTC(), time.UnixMilli(tt.want).UTC())
			}
		})
	}
}

func TestFloorClosesWindowsAtTheWatermark(t *testing.T) {
	minute, lateness := time.Minute.Milliseconds(), 2*time.Minute.Milliseconds()
	tests := []struct {
		name    string
		maxTime int64
		want    int64
	}{
		{"a partition without events has every window open", noTime, noTime},
		{"the window holding the watermark stays open", ms("2025-06-01T12:10:30Z"), ms("2025-06-01T12:08:00Z")},
		{"a window ending exactly at the watermark is closed", ms("2025-06-01T12:10:00Z"), ms("2025-06-01T12:08:00Z")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := floorFor(tt.maxTime, lateness, minute); got != tt.want {
				t.Fatalf("floor = %d, want %d", got, tt.want)
			}
		})
	}
}

// The flush schedule runs on an injected wall clock: no sleeping.
func TestShouldFlush(t *testing.T) {
	cfg := DefaultConfig()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name                string
		sinceFlush, sinceEv time.Duration
		caughtUp            bool
		pending             int
		want                bool
	}{
		{"nothing pending never flushes", time.Hour, time.Hour, true, 0, false},
		{"a busy partition waits for the flush interval", cfg.FlushInterval - time.Millisecond, 0, false, 10, false},
		{"a busy partition flushes at the flush interval", cfg.FlushInterval, 0, false, 10, true},
		{"a caught-up partition flushes after the minimum gap", minFlushGap, 0, true, 10, true},
		{"a caught-up partition does not flush more often than the gap", minFlushGap - time.Millisecond, 0, true, 10, false},
		{"an idle partition flushes after the idle time", 0, cfg.IdleFlush, false, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0.Add(time.Hour)
			got := shouldFlush(&cfg, now, now.Add(-tt.sinceFlush), now.Add(-tt.sinceEv), tt.caughtUp, tt.pending)
			if got != tt.want {
				t.Fatalf("shouldFlush = %v, want %v", got, tt.want)
			}
		})
	}
}
