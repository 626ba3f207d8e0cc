package aggregate

import "math"

// Times inside the aggregator are unix milliseconds.

// noTime is the event-time clock of a partition that has seen no event.
const noTime = math.MinInt64

// windowStart returns the start of the tumbling window of size ms holding t.
func windowStart(t, size int64) int64 {
	w := t - t%size
	if t%size < 0 {
		w -= size
	}
	return w
}

// floorFor returns the first window start that may still receive on-time
// events: windows ending at or before the watermark (max event time minus
// lateness) are closed.
func floorFor(maxTime, lateness, size int64) int64 {
	if maxTime == noTime {
		return noTime
	}
	return windowStart(maxTime-lateness, size)
}
