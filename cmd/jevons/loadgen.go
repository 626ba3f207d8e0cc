package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jevonsdev/jevons/ingest/emit"
	"github.com/jevonsdev/jevons/ingest/history"
	"github.com/jevonsdev/jevons/ingest/loadgen"
	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/secure"
)

func brokersFlag(fs interface {
	StringVar(*string, string, string, string)
}) *string {
	var s string
	fs.StringVar(&s, "brokers", envOr("JEVONS_BROKERS", "127.0.0.1:9092"), "Kafka bootstrap brokers, comma-separated (env JEVONS_BROKERS)")
	return &s
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseDate(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s: want YYYY-MM-DD, got %q", name, s)
	}
	return t, nil
}

func runLoadgen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("loadgen", stderr)
	brokers := brokersFlag(fs)
	topic := fs.String("topic", envOr("JEVONS_TOPIC", emit.DefaultTopic), "topic to produce to (env JEVONS_TOPIC)")
	partitions := fs.Int("partitions", 12, "partitions when the topic must be created")
	cfg := loadgen.DefaultConfig()
	fs.IntVar(&cfg.Events, "events", cfg.Events, "distinct events to send")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed; the same seed gives the same traffic")
	fs.IntVar(&cfg.Tenants, "tenants", cfg.Tenants, "number of tenants")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "tasks in progress at once")
	fs.Float64Var(&cfg.BadRatio, "bad-ratio", 0, "malformed messages per event (0..1)")
	fs.Float64Var(&cfg.DupRatio, "dup-ratio", 0, "duplicate deliveries per event (0..1)")
	fs.Float64Var(&cfg.LateRatio, "late-ratio", 0, "fraction of events sent late, up to --late-by in the past")
	fs.DurationVar(&cfg.LateBy, "late-by", cfg.LateBy, "how far in the past late events lie")
	fs.Float64Var(&cfg.TooOldRatio, "too-old-ratio", 0, "fraction of events older than the correction horizon (--too-old-by)")
	fs.DurationVar(&cfg.TooOldBy, "too-old-by", cfg.TooOldBy, "age of too-old events")
	fs.StringVar(&cfg.Dims, "dims", cfg.Dims, "how each task's dimensions are drawn: random (independently: every tenant uses every app and model) or realistic (each tenant 1-3 apps, each app 1-3 models)")
	fs.DurationVar(&cfg.Spread, "spread", 0, "date every event uniformly within this much before now, in random order (a backfill of history; e.g. 720h)")
	rate := fs.Float64("rate", 0, "events per second (0: as fast as Kafka takes them)")
	truthPath := fs.String("truth", "", "write the exact expected totals to this JSON file")
	refDate := fs.String("reference-date", envOr("JEVONS_REFERENCE_DATE", ""), "reference date for ref_cost_nanos, YYYY-MM-DD (default: each model's first known price)")
	catalogs := catalogFlag(fs)
	level := fs.String("log-level", envOr("JEVONS_LOG_LEVEL", "warn"), "log level")
	scenario := fs.String("scenario", "", "a story instead of random traffic: jevons (months of history, falling prices, growing usage; the aggregator needs --catalog "+loadgen.ScenarioPricesFile+")")
	story := loadgen.DefaultScenario()
	fs.IntVar(&story.Months, "months", story.Months, "scenario: months of history from 2026-01-01")
	fs.IntVar(&story.TasksPerDay, "tasks-per-day", story.TasksPerDay, "scenario: tasks on the first day")
	fs.Float64Var(&story.TaskGrowth, "task-growth", story.TaskGrowth, "scenario: monthly growth factor of tasks per day")
	kSec := kafkaSecurityFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	kcfg, err := kSec.config()
	if err != nil {
		return err
	}
	ref, err := parseDate("reference-date", *refDate)
	if err != nil {
		return err
	}
	switch *scenario {
	case "":
	case "jevons":
		story.Seed = cfg.Seed
		sec, err := kcfg.Load()
		if err != nil {
			return flagError(err)
		}
		return runStory(ctx, story, sec, splitList(*brokers), *topic, *partitions, *catalogs, ref, *truthPath, stdout)
	default:
		fmt.Fprintf(stderr, "jevons loadgen: --scenario: want jevons, got %q\n", *scenario)
		return exitError{2}
	}
	if *rate < 0 {
		return fmt.Errorf("--rate must be >= 0, got %v", *rate)
	}
	log, err := newLogger(*level, stderr)
	if err != nil {
		return err
	}
	cat, err := pricing.Load(*catalogs...)
	if err != nil {
		return err
	}
	ecfg := emit.DefaultConfig()
	ecfg.Brokers, ecfg.Topic, ecfg.Partitions = splitList(*brokers), *topic, *partitions
	ecfg.BlockTimeout = time.Minute // a load generator waits for room rather than drop
	ecfg.Security = kcfg
	em, err := emit.New(ecfg, log)
	if err != nil {
		return err
	}
	start := time.Now()
	truth, runErr := loadgen.Run(ctx, cfg, em, cat, ref, *rate, time.Now)
	closeCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	closeErr := em.Close(closeCtx)
	elapsed := time.Since(start)
	if runErr != nil {
		return runErr
	}
	if closeErr != nil {
		return closeErr
	}
	if *truthPath != "" {
		if err := truth.Write(*truthPath); err != nil {
			return fmt.Errorf("write truth: %w", err)
		}
	}
	st := em.Stats()
	return json.NewEncoder(stdout).Encode(map[string]any{
		"messages": truth.Messages, "events": truth.Events, "duplicates": truth.Duplicates, "bad": truth.Bad,
		"late": truth.Late, "too_old": truth.TooOld, "sent": st.Sent, "seconds": elapsed.Seconds(),
		"messages_per_second": float64(truth.Messages) / elapsed.Seconds(), "cost_usd": pricing.FormatNanos(truth.Totals.CostNanos),
	})
}

// runStory sends the story scenario with each message stamped at its event
// time, so months-old events pass the aggregator's correction horizon.
func runStory(ctx context.Context, s loadgen.Scenario, sec *secure.Kafka, brokers []string, topic string, partitions int, catalogs []string, ref time.Time, truthPath string, stdout io.Writer) error {
	cat, err := pricing.Load(catalogs...)
	if err != nil {
		return err
	}
	p, err := history.NewProducer(ctx, sec, brokers, topic, partitions)
	if err != nil {
		return err
	}
	start := time.Now()
	truth, runErr := loadgen.RunScenario(ctx, s, p, cat, ref)
	closeCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := errors.Join(runErr, p.Close(closeCtx)); err != nil {
		return err
	}
	if truthPath != "" {
		if err := truth.Write(truthPath); err != nil {
			return fmt.Errorf("write truth: %w", err)
		}
	}
	return json.NewEncoder(stdout).Encode(map[string]any{
		"scenario": "jevons", "months": s.Months, "events": truth.Events, "tasks": len(truth.Tasks), "sent": p.Sent(),
		"seconds": time.Since(start).Seconds(), "cost_usd": pricing.FormatNanos(truth.Totals.CostNanos),
		"from": s.Start.Format(time.DateOnly), "to": s.Start.AddDate(0, s.Months, -1).Format(time.DateOnly),
	})
}
