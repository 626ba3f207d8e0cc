package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/jevonsdev/jevons/analytics"
	"github.com/jevonsdev/jevons/ingest/loadgen"
	"github.com/jevonsdev/jevons/report"
	"github.com/jevonsdev/jevons/sink"
)

// report queries the history's months with package analytics, writes the
// report as HTML, JSON and text, checks its figures against the scenario's
// truth and prints the verdict.
func (d *demo) report(ctx context.Context) error {
	s := d.o.story
	from, to := s.Start, s.Start.AddDate(0, s.Months, -1)
	fmt.Fprintf(d.out, "[report %5.1fs] the Jevons question for every tenant and model, by month, %s to %s\n",
		time.Since(d.start).Seconds(), from.Format(time.DateOnly), to.Format(time.DateOnly))
	periods, err := analytics.Periods(from, to, analytics.Month)
	if err != nil {
		return err
	}
	res, err := analytics.NewQuerier(d.conn, d.o.ch.Database).Query(ctx, analytics.Slice{}, periods)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	doc := report.Build(res, analytics.Month)
	writers := map[string]func(io.Writer) error{
		"report.html": func(w io.Writer) error { return report.HTML(w, doc) },
		"report.txt":  func(w io.Writer) error { return report.Text(w, doc) },
		"report.json": func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(doc)
		},
	}
	for name, write := range writers {
		if err := writeFile(filepath.Join(d.o.dir, name), write); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	if bad := compareReport(demoPeriods(doc), d.truth); len(bad) > 0 {
		for _, b := range bad {
			d.fail("report differs from the scenario's truth: %s", b)
		}
	} else {
		d.note("every month's requests, tasks, tokens and cost equal the scenario's truth (%s)", filepath.Join(d.o.dir, "truth.json"))
	}
	fmt.Fprintf(d.out, "\nVerdict: %s\n", report.Paragraph(doc))
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// demoPeriod holds the figures of a report period that the truth has, under
// the report's JSON names, so report.json can be read back into it.
type demoPeriod struct {
	Start            string `json:"start"`
	End              string `json:"end"`
	Requests         uint64 `json:"requests"`
	Tasks            uint64 `json:"tasks"`
	InputTokens      uint64 `json:"input_tokens"`
	OutputTokens     uint64 `json:"output_tokens"`
	CacheReadTokens  uint64 `json:"cache_read_tokens"`
	CacheWriteTokens uint64 `json:"cache_write_tokens"`
	ReasoningTokens  uint64 `json:"reasoning_tokens"`
	CostNanos        int64  `json:"cost_nanos"`
	RefCostNanos     int64  `json:"ref_cost_nanos"`
	UnpricedRequests uint64 `json:"unpriced_requests"`
}

func demoPeriods(doc *report.Document) []demoPeriod {
	out := make([]demoPeriod, len(doc.Periods))
	for i, p := range doc.Periods {
		out[i] = demoPeriod{Start: p.Start, End: p.End, Requests: p.Requests, Tasks: p.Tasks, InputTokens: p.InputTokens,
			OutputTokens: p.OutputTokens, CacheReadTokens: p.CacheReadTokens, CacheWriteTokens: p.CacheWriteTokens,
			ReasoningTokens: p.ReasoningTokens, CostNanos: p.CostNanos, RefCostNanos: p.RefCostNanos, UnpricedRequests: p.UnpricedRequests}
	}
	return out
}

// compareReport lists every figure of the report's periods that differs
// from the truth's days summed over the period.
func compareReport(periods []demoPeriod, truth *loadgen.Truth) []string {
	var bad []string
	if len(truth.ByDay) == 0 {
		return []string{"the truth has no per-day totals"}
	}
	counted := map[string]bool{}
	for _, p := range periods {
		var want loadgen.Totals
		var tasks int64
		for day, t := range truth.ByDay {
			if day >= p.Start && day <= p.End {
				want.Requests += t.Requests
				want.InputTokens += t.InputTokens
				want.OutputTokens += t.OutputTokens
				want.CacheReadTokens += t.CacheReadTokens
				want.CacheWriteTokens += t.CacheWriteTokens
				want.ReasoningTokens += t.ReasoningTokens
				want.CostNanos += t.CostNanos
				want.RefCostNanos += t.RefCostNanos
				want.UnpricedRequests += t.UnpricedRequests
				tasks += truth.TasksByDay[day]
				counted[day] = true
			}
		}
		for _, c := range []struct {
			name      string
			got, want int64
		}{
			{"requests", int64(p.Requests), want.Requests},
			{"tasks", int64(p.Tasks), tasks},
			{"input_tokens", int64(p.InputTokens), want.InputTokens},
			{"output_tokens", int64(p.OutputTokens), want.OutputTokens},
			{"cache_read_tokens", int64(p.CacheReadTokens), want.CacheReadTokens},
			{"cache_write_tokens", int64(p.CacheWriteTokens), want.CacheWriteTokens},
			{"reasoning_tokens", int64(p.ReasoningTokens), want.ReasoningTokens},
			{"cost_nanos", p.CostNanos, want.CostNanos},
			{"ref_cost_nanos", p.RefCostNanos, want.RefCostNanos},
			{"unpriced_requests", int64(p.UnpricedRequests), want.UnpricedRequests},
		} {
			if c.got != c.want {
				bad = append(bad, fmt.Sprintf("%s..%s %s: report %d, truth %d", p.Start, p.End, c.name, c.got, c.want))
			}
		}
	}
	for day := range truth.ByDay {
		if !counted[day] {
			bad = append(bad, fmt.Sprintf("truth day %s lies outside the report's periods", day))
		}
	}
	return bad
}

// demoDown drops the demo's database and removes its files.
func demoDown(ctx context.Context, o *demoOptions, stdout io.Writer) error {
	conn, err := sink.Open(ctx, o.ch)
	if err == nil {
		if err = demoOwnsDatabase(ctx, conn, o.ch.Database); err == nil {
			err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+o.ch.Database)
		}
		conn.Close()
	}
	if err != nil {
		fmt.Fprintf(stdout, "demo: database %s at %s not dropped: %v\n", o.ch.Database, o.ch.Addr, err)
	} else {
		fmt.Fprintf(stdout, "demo: dropped database %s at %s\n", o.ch.Database, o.ch.Addr)
	}
	if err := os.RemoveAll(o.dir); err != nil {
		return fmt.Errorf("remove %s: %w", o.dir, err)
	}
	fmt.Fprintf(stdout, "demo: removed %s\n", o.dir)
	return nil
}
