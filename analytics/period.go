package analytics

import (
	"fmt"
	"time"
)

// Period is a half-open UTC range [Start, End) of whole days.
type Period struct {
	Start, End time.Time
}

// Granularity names the calendar periods of a report.
type Granularity string

const (
	Day   Granularity = "day"
	Week  Granularity = "week" // ISO weeks, Monday to Sunday
	Month Granularity = "month"
)

// ParseGranularity accepts day, week or month.
func ParseGranularity(s string) (Granularity, error) {
	switch g := Granularity(s); g {
	case Day, Week, Month:
		return g, nil
	}
	return "", fmt.Errorf("want day, week or month, got %q", s)
}

// Periods cuts the days from..to (both inclusive, UTC dates) into calendar
// periods. The first and last periods are clipped to the range, so a range
// that does not start and end on period boundaries has partial periods at
// its ends.
func Periods(from, to time.Time, by Granularity) ([]Period, error) {
	from, to = day(from), day(to)
	if to.Before(from) {
		return nil, fmt.Errorf("from %s is after to %s", from.Format(time.DateOnly), to.Format(time.DateOnly))
	}
	end := to.AddDate(0, 0, 1)
	var out []Period
	for start := from; start.Before(end); {
		next := periodStart(start, by)
		switch by {
		case Day:
			next = next.AddDate(0, 0, 1)
		case Week:
			next = next.AddDate(0, 0, 7)
		case Month:
			next = next.AddDate(0, 1, 0)
		default:
			return nil, fmt.Errorf("unknown granularity %q", by)
		}
		if next.After(end) {
			next = end
		}
		out = append(out, Period{Start: start, End: next})
		start = next
	}
	return out, nil
}

func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// periodStart is the calendar start of the period holding t.
func periodStart(t time.Time, by Granularity) time.Time {
	switch by {
	case Week:
		wd := (int(t.Weekday()) + 6) % 7 // Monday = 0
		return t.AddDate(0, 0, -wd)
	case Month:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return t
}
