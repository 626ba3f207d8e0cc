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
	every := cfg
	every.FlushInterval = 300 * time.Millisecond
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name            string
		cfg             *Config
		waited, sinceEv time.Duration // the oldest unflushed change; the last message
		lastFlush       time.Duration
		caughtUp        bool
		pending         int
		want            bool
	}{
		{"nothing pending never flushes", &cfg, time.Hour, time.Hour, 0, false, 0, false},
		{"changes wait while they are fresher than the target", &cfg, cfg.MaxStaleness - time.Millisecond, 0, 0, false, 10, false},
		{"changes flush once they are as old as the target", &cfg, cfg.MaxStaleness, 0, 0, false, 10, true},
		{"a slow last flush makes the next one begin sooner", &cfg, cfg.MaxStaleness - time.Second, 0, time.Second, false, 10, true},
		{"however slow flushes are, a partition waits the minimum gap", &cfg, minFlushGap - time.Millisecond, 0, time.Hour, false, 10, false},
		{"a set flush interval flushes at least that often", &every, every.FlushInterval, 0, 0, false, 10, true},
		{"a set flush interval waits for its time", &every, every.FlushInterval - time.Millisecond, 0, 0, false, 10, false},
		{"a caught-up partition that hears nothing for the minimum gap flushes", &cfg, minFlushGap, minFlushGap, 0, true, 10, true},
		{"a caught-up partition still hearing events waits for the target", &cfg, time.Second, minFlushGap - time.Millisecond, 0, true, 10, false},
		{"an idle partition flushes after the idle time", &cfg, time.Millisecond, cfg.IdleFlush, 0, false, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0.Add(time.Hour)
			c := flushClock{dirtySince: now.Add(-tt.waited), lastMsg: now.Add(-tt.sinceEv), lastFlush: tt.lastFlush, caughtUp: tt.caughtUp}
			if got := shouldFlush(tt.cfg, now, &c, tt.pending); got != tt.want {
				t.Fatalf("shouldFlush = %v, want %v", got, tt.want)
			}
		})
	}
}
