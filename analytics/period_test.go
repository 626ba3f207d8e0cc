package analytics

import (
	"strings"
	"testing"
	"time"
)

func TestPeriodsAreCalendarPeriodsClippedToTheRange(t *testing.T) {
	d := func(s string) time.Time {
		v, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name     string
		from, to string
		by       Granularity
		want     [][2]string // start, end exclusive
	}{
		{"months with partial ends", "2026-01-15", "2026-03-10", Month, [][2]string{{"2026-01-15", "2026-02-01"}, {"2026-02-01", "2026-03-01"}, {"2026-03-01", "2026-03-11"}}},
		{"ISO weeks start on Monday", "2026-01-01", "2026-01-12", Week, [][2]string{{"2026-01-01", "2026-01-05"}, {"2026-01-05", "2026-01-12"}, {"2026-01-12", "2026-01-13"}}},
		{"days, to inclusive", "2026-02-27", "2026-03-01", Day, [][2]string{{"2026-02-27", "2026-02-28"}, {"2026-02-28", "2026-03-01"}, {"2026-03-01", "2026-03-02"}}},
		{"one day", "2026-05-05", "2026-05-05", Month, [][2]string{{"2026-05-05", "2026-05-06"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := Periods(d(tt.from), d(tt.to), tt.by)
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != len(tt.want) {
				t.Fatalf("%d periods, want %d: %v", len(ps), len(tt.want), ps)
			}
			for i, w := range tt.want {
				if !ps[i].Start.Equal(d(w[0])) || !ps[i].End.Equal(d(w[1])) {
					t.Errorf("period %d = %v..%v, want %v", i, ps[i].Start, ps[i].End, w)
				}
			}
		})
	}
	if _, err := Periods(d("2026-02-01"), d("2026-01-01"), Month); err == nil {
		t.Error("from after to accepted")
	}
	if _, err := ParseGranularity("year"); err == nil {
		t.Error("year accepted")
	}
}

func TestPeriodIndexFindsTheHalfOpenPeriod(t *testing.T) {
	ps, _ := Periods(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC), Month)
	for _, tt := range []struct {
		at   time.Time
		want int
	}{
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{time.Date(2026, 1, 31, 23, 59, 59, 0, time.UTC), 0},
		{time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), 1},
		{time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), -1},
		{time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC), -1},
	} {
		if got := periodIndex(ps, tt.at); got != tt.want {
			t.Errorf("periodIndex(%v) = %d, want %d", tt.at, got, tt.want)
		}
	}
}

func TestWholeMonthsAreReadFromMonthStates(t *testing.T) {
	d := func(s string) time.Time { v, _ := time.Parse(time.DateOnly, s); return v }
	tests := []struct {
		name     string
		from, to string
		by       Granularity
		want     []string // table from to
	}{
		{"partial ends read days, whole months read months", "2026-01-15", "2026-04-10", Month,
			[]string{"usage_daily_rollup 2026-01-15 2026-02-01", "usage_monthly_rollup 2026-02-01 2026-04-01", "usage_daily_rollup 2026-04-01 2026-04-11"}},
		{"a year of whole months is one range of months", "2025-01-01", "2025-12-31", Month,
			[]string{"usage_monthly_rollup 2025-01-01 2026-01-01"}},
		{"weeks read days even when a week spans a month", "2026-01-01", "2026-02-28", Week,
			[]string{"usage_daily_rollup 2026-01-01 2026-03-01"}},
		{"one partial month reads days", "2026-02-01", "2026-02-27", Month,
			[]string{"usage_daily_rollup 2026-02-01 2026-02-28"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := Periods(d(tt.from), d(tt.to), tt.by)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range usageRanges(MonthStates, ps) {
				got = append(got, r.table+" "+r.from.Format(time.DateOnly)+" "+r.to.Format(time.DateOnly))
			}
			if strings.Join(got, "; ") != strings.Join(tt.want, "; ") {
				t.Fatalf("ranges %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMonthRangesCutAtMonthStarts(t *testing.T) {
	at := func(s string) time.Time { v, _ := time.Parse(time.DateTime, s); return v }
	got := monthRanges(at("2025-12-25 00:00:00"), at("2026-02-11 00:00:00"))
	want := [][2]string{{"2025-12-25", "2026-01-01"}, {"2026-01-01", "2026-02-01"}, {"2026-02-01", "2026-02-11"}}
	if len(got) != len(want) {
		t.Fatalf("ranges %v, want %v", got, want)
	}
	for i, r := range got {
		if r[0].Format(time.DateOnly) != want[i][0] || r[1].Format(time.DateOnly) != want[i][1] {
			t.Fatalf("range %d: %v, want %v", i, r, want[i])
		}
	}
}

// Calendar periods of zones with daylight-saving changes: every day is one
// period from its first instant to the next day's, labelled with its own
// date, also where the change skips midnight (Santiago, Havana, Cairo,
// Beirut, the Azores) and where a day has 23 or 25 hours (Paris).
func TestPeriodsInZonesWithDaylightSavingChanges(t *testing.T) {
	for _, tt := range []struct {
		zone     string
		from, to string
	}{
		{"America/Santiago", "2024-09-01", "2024-09-15"},
		{"America/Santiago", "2025-04-01", "2025-04-10"},
		{"America/Havana", "2025-03-01", "2025-03-15"},
		{"Africa/Cairo", "2025-04-20", "2025-05-05"},
		{"Asia/Beirut", "2025-03-25", "2025-04-05"},
		{"Atlantic/Azores", "2025-03-25", "2025-04-05"},
		{"Europe/Paris", "2025-03-25", "2025-04-05"},
		{"Europe/Paris", "2025-10-20", "2025-10-31"},
	} {
		t.Run(tt.zone+" "+tt.from, func(t *testing.T) {
			loc, err := time.LoadLocation(tt.zone)
			if err != nil {
				t.Fatal(err)
			}
			from, _ := time.Parse(time.DateOnly, tt.from)
			to, _ := time.Parse(time.DateOnly, tt.to)
			days, err := PeriodsIn(from, to, Day, loc)
			if err != nil {
				t.Fatal(err)
			}
			if want := int(to.Sub(from).Hours()/24) + 1; len(days) != want {
				t.Fatalf("%d days, want %d", len(days), want)
			}
			for i, p := range days {
				want := from.AddDate(0, 0, i).Format(time.DateOnly)
				if got := p.Start.Format(time.DateOnly); got != want {
					t.Errorf("day %d starts on %s (%s), want %s", i, got, p.Start, want)
				}
				if got := p.End.Add(-time.Nanosecond).Format(time.DateOnly); got != want {
					t.Errorf("day %d ends on %s, want %s", i, got, want)
				}
				if h := p.End.Sub(p.Start).Hours(); h < 23 || h > 25 {
					t.Errorf("day %s lasts %v hours", want, h)
				}
				if before := p.Start.Add(-time.Nanosecond); before.Format(time.DateOnly) == want {
					t.Errorf("day %s starts at %s, after an instant of the same date", want, p.Start)
				}
				if i > 0 && !days[i-1].End.Equal(p.Start) {
					t.Errorf("day %d does not start where day %d ends", i, i-1)
				}
			}
			weeks, _ := PeriodsIn(from, to, Week, loc)
			months, _ := PeriodsIn(from, to, Month, loc)
			for _, ps := range [][]Period{weeks, months} {
				if !ps[0].Start.Equal(days[0].Start) || !ps[len(ps)-1].End.Equal(days[len(days)-1].End) {
					t.Errorf("weeks or months span %s..%s, days %s..%s", ps[0].Start, ps[len(ps)-1].End, days[0].Start, days[len(days)-1].End)
				}
			}
		})
	}
}
