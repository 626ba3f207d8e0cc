package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jevonsdev/jevons/analytics"
	"github.com/jevonsdev/jevons/report"
	"github.com/jevonsdev/jevons/sink"
)

// reportOptions are the parsed flags of `jevons report`.
type reportOptions struct {
	ch       sink.Config
	slice    analytics.Slice
	from, to time.Time
	by       analytics.Granularity
	format   string
	out      string
	minutes  bool
	noCache  bool
	loc      *time.Location
}

// parseReportFlags reads and checks the flags; a bad value names its flag
// and exits 2.
func parseReportFlags(args []string, stderr io.Writer) (*reportOptions, error) {
	fs := newFlagSet("report", stderr)
	o := &reportOptions{ch: sink.DefaultConfig()}
	chSec := clickhouseFlags(fs, &o.ch)
	fs.StringVar(&o.slice.Tenant, "tenant", "", "only this tenant")
	fs.StringVar(&o.slice.App, "app", "", "only this app")
	fs.StringVar(&o.slice.TaskType, "task-type", "", "only this task type")
	fs.StringVar(&o.slice.Provider, "provider", "", "only this provider")
	fs.StringVar(&o.slice.Model, "model", "", "only this model")
	from := fs.String("from", "", "first day, YYYY-MM-DD, in --tz (required)")
	to := fs.String("to", "", "last day, inclusive, YYYY-MM-DD, in --tz (required)")
	tz := fs.String("tz", "UTC", "time zone of the days, weeks and months (an IANA name such as Europe/Paris)")
	by := fs.String("by", "month", "period: day, week (ISO, from Monday) or month")
	fs.StringVar(&o.format, "format", "text", "text, json or html")
	fs.StringVar(&o.out, "out", "", "write to this file instead of stdout")
	fs.BoolVar(&o.minutes, "from-minutes", false, "read the 1-minute usage view instead of the day states (slow over long ranges)")
	fs.BoolVar(&o.noCache, "no-cache", false, "compute the task figures of every period instead of reading past periods' back from report_cache")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if err := chSec.apply(); err != nil {
		return nil, err
	}
	bad := func(flag, format string, a ...any) error {
		fmt.Fprintf(stderr, "jevons report: --%s: %s\n", flag, fmt.Sprintf(format, a...))
		return exitError{2}
	}
	var err error
	if *from == "" || *to == "" {
		return nil, bad(map[bool]string{true: "from", false: "to"}[*from == ""], "required, YYYY-MM-DD")
	}
	if o.loc, err = time.LoadLocation(*tz); err != nil || *tz == "" || *tz == "Local" {
		return nil, bad("tz", "want an IANA time zone name such as UTC or Europe/Paris, got %q", *tz)
	}
	if o.from, err = time.Parse(time.DateOnly, *from); err != nil {
		return nil, bad("from", "want YYYY-MM-DD, got %q", *from)
	}
	if o.to, err = time.Parse(time.DateOnly, *to); err != nil {
		return nil, bad("to", "want YYYY-MM-DD, got %q", *to)
	}
	if o.from.After(o.to) {
		return nil, bad("from", "%s is after --to %s", *from, *to)
	}
	if o.by, err = analytics.ParseGranularity(*by); err != nil {
		return nil, bad("by", "%v", err)
	}
	switch o.format {
	case "text", "json", "html":
	default:
		return nil, bad("format", "want text, json or html, got %q", o.format)
	}
	return o, nil
}

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseReportFlags(args, stderr)
	if err != nil {
		return err
	}
	periods, err := analytics.PeriodsIn(o.from, o.to, o.by, o.loc)
	if err != nil {
		return err
	}
	conn, err := sink.Open(ctx, o.ch)
	if err != nil {
		return err
	}
	defer conn.Close()
	q := analytics.NewQuerier(conn, o.ch.Database)
	if o.minutes {
		q.Source = analytics.MinuteView
	}
	// The cache's validity check reads system.parts, which shows one
	// server's parts: on a cluster every period is computed.
	q.Cache = !o.noCache && o.ch.Cluster == ""
	res, err := q.Query(ctx, o.slice, periods)
	if err != nil {
		return err
	}
	doc := report.Build(res, o.by)
	w := stdout
	if o.out != "" {
		f, err := os.Create(o.out)
		if err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		defer f.Close()
		w = f
	}
	switch o.format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(doc)
	case "html":
		err = report.HTML(w, doc)
	default:
		err = report.Text(w, doc)
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if f, ok := w.(*os.File); ok && o.out != "" {
		return f.Close()
	}
	return nil
}
