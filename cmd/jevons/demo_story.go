package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/alert"
	"github.com/jevonsdev/jevons/ingest/emit"
	"github.com/jevonsdev/jevons/ingest/history"
	"github.com/jevonsdev/jevons/ingest/loadgen"
	"github.com/jevonsdev/jevons/internal/topics"
	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/schemas"
)

const (
	demoPartitions = 4
	demoGroup      = "jevons-demo"
)

// aggregator runs `jevons aggregate` in this process with the scenario's
// price overlay and the rules file; its log goes to --dir/aggregate.log.
func (d *demo) aggregator(ctx context.Context, rules string) (<-chan error, error) {
	prices := filepath.Join(d.o.dir, "jevons-prices.yaml")
	if err := os.WriteFile(prices, loadgen.ScenarioPrices, 0o644); err != nil {
		return nil, fmt.Errorf("write price overlay: %w", err)
	}
	logPath := filepath.Join(d.o.dir, "aggregate.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("aggregator log: %w", err)
	}
	var logw io.Writer = logFile
	if d.o.verbose {
		logw = io.MultiWriter(logFile, d.stderr)
	}
	args := []string{
		"--brokers", strings.Join(d.brokers, ","), "--topic", d.o.topic, "--group", demoGroup,
		"--clickhouse", d.o.ch.Addr, "--database", d.o.ch.Database,
		"--clickhouse-user", d.o.ch.Username,
		"--catalog", prices, "--rules", rules, "--idle-flush", "1s", "--flush-interval", "1s", "--log-level", "info",
	}
	args = append(args, securityArgs(&d.o.kafka, &d.o.ch)...)
	// The topic exists before the aggregator joins its group, with the
	// partitions the demo wants.
	if err := topics.Ensure(ctx, d.o.ksec, d.brokers, d.o.topic, demoPartitions, -1); err != nil {
		logFile.Close()
		return nil, err
	}
	d.step(4, "aggregator: group %s, prices %s, rules %s (log: %s)", demoGroup, prices, rules, logPath)
	done := make(chan error, 1)
	go func() {
		err := runAggregate(ctx, args, io.Discard, logw)
		logFile.Close()
		done <- err
	}()
	return done, nil
}

// demoProgress counts the scenario's events as they go to Kafka and prints
// one line per month of history.
type demoProgress struct {
	*history.Producer
	d     *demo
	n     int
	month string
}

func (p *demoProgress) Emit(ctx context.Context, ev *schemas.Event) error {
	if m := ev.Time.UTC().Format("2006-01"); m != p.month {
		if p.month != "" {
			p.d.note("history through %s: %d events sent", p.month, p.n)
		}
		p.month = m
	}
	p.n++
	return p.Producer.Emit(ctx, ev)
}

// history sends the analytics scenario, each message stamped at its event
// time, and keeps its truth.
func (d *demo) history(ctx context.Context) error {
	s := d.o.story
	end := s.Start.AddDate(0, s.Months, -1)
	d.step(5, "history: %d months (%s to %s) where the price per token falls monthly while tasks and tokens per task grow",
		s.Months, s.Start.Format(time.DateOnly), end.Format(time.DateOnly))
	cat, err := pricing.Load()
	if err != nil {
		return err
	}
	p, err := history.NewProducer(ctx, d.o.ksec, d.brokers, d.o.topic, demoPartitions)
	if err != nil {
		return err
	}
	prog := &demoProgress{Producer: p, d: d}
	truth, runErr := loadgen.RunScenario(ctx, s, prog, cat, time.Time{})
	closeCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := errors.Join(runErr, p.Close(closeCtx)); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	d.note("history through %s: %d events sent, %d tasks, $%s in total", prog.month, p.Sent(), len(truth.Tasks),
		pricing.FormatNanos(truth.Totals.CostNanos))
	d.truth = truth
	return truth.Write(filepath.Join(d.o.dir, "truth.json"))
}

// waitAggregated waits until the history's requests are all in ClickHouse's
// day states, printing how far along the aggregator is.
func (d *demo) waitAggregated(ctx context.Context, aggDone <-chan error) error {
	s := d.o.story
	want := d.truth.Events
	d.step(6, "waiting for the aggregator to write all %d history requests to ClickHouse", want)
	q := fmt.Sprintf(`SELECT toInt64(sum(requests)) FROM %s.usage_daily_rollup FINAL WHERE window_start < toDateTime('%s', 'UTC')`,
		d.o.ch.Database, s.Start.AddDate(0, s.Months, 0).Format(time.DateTime))
	deadline := time.Now().Add(d.o.timeout)
	last := int64(-1)
	for {
		var got int64
		if err := d.conn.QueryRow(ctx, q).Scan(&got); err != nil {
			return fmt.Errorf("count aggregated requests: %w", err)
		}
		if got != last {
			d.note("%d of %d requests aggregated (%.0f%%)", got, want, 100*float64(got)/float64(max(want, 1)))
			last = got
		}
		if got == want {
			return nil
		}
		if got > want {
			return fmt.Errorf("ClickHouse holds %d history requests, more than the %d sent", got, want)
		}
		select {
		case err := <-aggDone:
			return fmt.Errorf("aggregator stopped (see %s): %v", filepath.Join(d.o.dir, "aggregate.log"), err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s only %d of %d history requests are in ClickHouse (see %s)",
				d.o.timeout, last, want, filepath.Join(d.o.dir, "aggregate.log"))
		}
	}
}

// periodAlerts evaluates the period rules (here the jevons rule) as
// `jevons alert` does, on the story's clock: the day after the history ends,
// so the last complete month is the history's last.
func (d *demo) periodAlerts(ctx context.Context, rules string) error {
	s := d.o.story
	clock := s.Start.AddDate(0, s.Months, 0)
	d.step(7, "period alerts: the jevons rule compares the last two complete months, on the story's clock %s", clock.Format(time.DateOnly))
	set, err := alert.Load(rules)
	if err != nil {
		return err
	}
	store := alert.NewStore(d.conn, d.o.ch.Database, nil)
	m := alert.NewMetrics(nil)
	disp, err := alert.NewDispatcher(alert.DefaultDispatchConfig(), set, store, m, zap.NewNop())
	if err != nil {
		return err
	}
	dctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- disp.Run(dctx) }()
	defer func() { stop(); <-done }()
	q := &alert.Querier{Conn: d.conn, DB: d.o.ch.Database, UseDaily: true}
	ev := alert.NewPeriod(alert.PeriodConfig{Owner: "demo"}, set, q, store, disp, m, zap.NewNop(), func() time.Time { return clock })
	if err := ev.Restore(ctx); err != nil {
		return fmt.Errorf("period alerts: %w", err)
	}
	ev.EvaluateAll(ctx)
	if !d.recv.waitFor("jevons-paradox", 30*time.Second) {
		d.fail("the jevons rule sent no notification within 30s for %s", clock.AddDate(0, -1, 0).Format("2006-01"))
	}
	return nil
}

// liveTraffic sends live events stamped now through ingest/emit, as AI
// services do, plus one task that loops requests, and waits for the
// runaway alert.
func (d *demo) liveTraffic(ctx context.Context, aggDone <-chan error) error {
	d.step(8, "live traffic: %d events at %.0f/s stamped now, and task demo-runaway looping %d requests", d.o.live, d.o.liveRate, d.o.runaway)
	ecfg := emit.DefaultConfig()
	ecfg.Brokers, ecfg.Topic, ecfg.Partitions, ecfg.BlockTimeout, ecfg.Security = d.brokers, d.o.topic, demoPartitions, time.Minute, d.o.kafka
	em, err := emit.New(ecfg, zap.NewNop())
	if err != nil {
		return err
	}
	cat, err := pricing.Load()
	if err != nil {
		return err
	}
	lcfg := loadgen.DefaultConfig()
	lcfg.Seed, lcfg.Events, lcfg.Tenants = 7, d.o.live, 5
	liveDone := make(chan error, 1)
	go func() {
		_, err := loadgen.Run(ctx, lcfg, em, cat, time.Time{}, d.o.liveRate, time.Now)
		liveDone <- err
	}()
	runErr := d.runawayTask(ctx, em)
	liveErr := <-liveDone
	closeCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := errors.Join(runErr, liveErr, em.Close(closeCtx)); err != nil {
		return fmt.Errorf("live traffic: %w", err)
	}
	st := em.Stats()
	d.note("live: %d events sent, %d dropped; waiting for the runaway alert", st.Sent, st.Dropped)
	if !d.recv.waitFor("runaway-task", d.o.timeout) {
		d.fail("the runaway rule sent no notification within %s", d.o.timeout)
	}
	select {
	case err := <-aggDone:
		return fmt.Errorf("aggregator stopped: %v", err)
	default:
	}
	return d.waitRunawayTask(ctx)
}

// waitRunawayTask waits until the tasks view holds every request of the
// runaway task, once.
func (d *demo) waitRunawayTask(ctx context.Context) error {
	q := fmt.Sprintf(`SELECT toInt64(requests), toInt64(cost_nanos) FROM %s.tasks WHERE tenant = 'acme' AND task_id = 'demo-runaway'`, d.o.ch.Database)
	deadline := time.Now().Add(d.o.timeout)
	for {
		var requests, cost int64
		err := d.conn.QueryRow(ctx, q).Scan(&requests, &cost)
		if err == nil && requests == int64(d.o.runaway) {
			d.note("tasks view: demo-runaway has its %d requests, $%s", requests, pricing.FormatNanos(cost))
			return nil
		}
		if err == nil && requests > int64(d.o.runaway) {
			d.fail("tasks view: demo-runaway has %d requests, more than the %d sent", requests, d.o.runaway)
			return nil
		}
		if time.Now().After(deadline) {
			d.fail("tasks view: demo-runaway has %d of its %d requests after %s (%v)", requests, d.o.runaway, d.o.timeout, err)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// runawayTask emits one agent task's requests in a loop, 20 a second, as an
// agent stuck retrying would.
func (d *demo) runawayTask(ctx context.Context, em *emit.Emitter) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := 1; i <= d.o.runaway; i++ {
		ev := &schemas.Event{
			EventID: fmt.Sprintf("demo-runaway-%d", i), Time: time.Now().UTC().Truncate(time.Millisecond),
			Tenant: "acme", TaskID: "demo-runaway", TaskType: "agent-run", App: "coding-agent",
			Provider: "openai", Model: "gpt-4o", LatencyMs: 900,
			Usage: schemas.Usage{InputTokens: 12_000, CacheReadTokens: 10_000, OutputTokens: 350},
		}
		if err := em.Emit(ctx, ev); err != nil {
			return fmt.Errorf("runaway request %d: %w", i, err)
		}
		if i%50 == 0 {
			d.note("runaway task: %d requests so far", i)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}
