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
