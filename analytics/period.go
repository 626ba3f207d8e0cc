package analytics

import (
	"fmt"
	"time"
)

// Period is a half-open range [Start, End) of whole days of a time zone
// (UTC unless made by PeriodsIn).
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
	return PeriodsIn(from, to, by, time.UTC)
}

// PeriodsIn cuts the days from..to (both inclusive; their year, month and
// day are dates in loc) into the calendar periods of loc: a day runs from
// its first instant to the next day's (23 or 25 hours across a
// daylight-saving change; where a change skips midnight, the day starts
// when the clocks jump). Calendar arithmetic is done on dates, and only
// the boundaries become instants. Periods keep loc, so their dates print
// as local dates.
func PeriodsIn(from, to time.Time, by Granularity, loc *time.Location) ([]Period, error) {
	if loc == nil {
		loc = time.UTC
	}
	from, to = civilDay(from), civilDay(to)
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
		out = append(out, Period{Start: firstInstant(start, loc), End: firstInstant(next, loc)})
		start = next
	}
	return out, nil
}

// civilDay carries t's date (its year, month and day as they read in t's
// own location) as midnight UTC, where date arithmetic has no gaps.
func civilDay(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// firstInstant is the first instant of the date carried by day (a
// civilDay) in loc: its midnight, or, where a daylight-saving change skips
// midnight, the instant the clocks jump.
func firstInstant(day time.Time, loc *time.Location) time.Time {
	t := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
	if t.Day() != day.Day() {
		// Normalised back into the day before: the day starts where that
		// zone period ends.
		_, end := t.ZoneBounds()
		return end
	}
	if t.Hour() != 0 || t.Minute() != 0 || t.Second() != 0 {
		// Normalised forward past the jump: the day starts at the jump.
		start, _ := t.ZoneBounds()
		return start
	}
	return t
}

// periodStart is the calendar start of the period holding the date t (a
// civilDay).
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
