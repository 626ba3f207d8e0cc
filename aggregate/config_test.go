package aggregate

import (
	"strings"
	"testing"
	"time"
)

func TestWindowsMustBeWholeUnitsDividingTheDay(t *testing.T) {
	for _, tc := range []struct {
		name             string
		window, taskWin  time.Duration
		wantErr, wantMsg string
	}{
		{name: "the defaults are valid", window: time.Minute, taskWin: time.Hour},
		{name: "whole seconds dividing the day are valid", window: 30 * time.Second, taskWin: 15 * time.Minute},
		{name: "a window of 1.5s is rejected (DateTime stores whole seconds)", window: 1500 * time.Millisecond, taskWin: time.Hour, wantMsg: "window: want whole seconds"},
		{name: "a task window of 90s is rejected (whole minutes)", window: time.Minute, taskWin: 90 * time.Second, wantMsg: "task-window: want whole minutes"},
		{name: "a window of 7m does not divide the day", window: 7 * time.Minute, taskWin: time.Hour, wantMsg: "window: want whole seconds"},
		{name: "a sub-second window is rejected", window: 500 * time.Millisecond, taskWin: time.Hour, wantMsg: "got 500ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Window, cfg.TaskWindow = tc.window, tc.taskWin
			err := cfg.Validate()
			if tc.wantMsg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantMsg)
			}
		})
	}
}

// The Go runtime's limit leaves room below the configured one for what the
// runtime does not count, so the resident set stays under the limit.
func TestRuntimeMemoryLimitLeavesRoomForTheBinary(t *testing.T) {
	for _, tc := range []struct{ limit, want int64 }{
		{256 << 20, 224 << 20},
		{384 << 20, 352 << 20},
		{64 << 20, 40 << 20},
		{128 << 20, 104 << 20},
		{32 << 20, 16 << 20},
	} {
		if got := runtimeMemoryLimit(tc.limit); got != tc.want {
			t.Errorf("limit %d MiB: runtime limit %d MiB, want %d MiB", tc.limit>>20, got>>20, tc.want>>20)
		}
	}
}
