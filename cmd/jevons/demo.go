package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/jevonsdev/jevons/ingest/loadgen"
	"github.com/jevonsdev/jevons/secure"
	"github.com/jevonsdev/jevons/sink"
)

// The demo tells the whole story on one machine: months of history where
// prices per token fall while usage grows, live traffic with a runaway task,
// the aggregator with its stream alerts, the period alerts, a local receiver
// printing every notification, and the report. With no --brokers, Kafka is
// an in-process Kafka-protocol broker, so ClickHouse is the only service.
// Each run recreates its own database (and, on a real broker, its topics),
// so a second run gives the same figures, never doubled.

// demoOptions are the parsed flags of `jevons demo`.
type demoOptions struct {
	brokers  []string // empty: in-process broker
	kafka    secure.KafkaConfig
	ksec     *secure.Kafka
	ch       sink.Config
	dir      string
	topic    string
	story    loadgen.Scenario
	live     int           // background live events
	liveRate float64       // events per second
	runaway  int           // requests of the runaway task
	timeout  time.Duration // for each wait
	down     bool
	verbose  bool
}

func parseDemoFlags(args []string, stderr io.Writer) (*demoOptions, error) {
	fs := newFlagSet("demo", stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: jevons demo [flags]
       jevons demo --down

Runs the Jevons story end to end: months of history where the price per token
falls every month while tasks and tokens per task grow, the aggregator, live
traffic with a runaway task, alert rules with a local receiver that prints each
notification, then the verdict and an HTML report. Without --brokers, Kafka is
an in-process Kafka-protocol broker and ClickHouse is the only service needed
(deploy/local/demo starts it). Every run recreates its database --database and
its files in --dir, so a second run gives the same figures. --down drops them.

flags:`)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), exampleText("demo"))
	}
	o := &demoOptions{ch: sink.DefaultConfig(), story: loadgen.DefaultScenario()}
	// The demo's own database flag, not JEVONS_DATABASE: it drops and
	// recreates it on every run.
	fs.StringVar(&o.ch.Addr, "clickhouse", envOr("JEVONS_CLICKHOUSE", o.ch.Addr), "ClickHouse native-protocol address host:port (env JEVONS_CLICKHOUSE)")
	fs.StringVar(&o.ch.Database, "database", envOr("JEVONS_DEMO_DATABASE", "jevons_demo"), "the demo's own database, dropped and recreated each run (env JEVONS_DEMO_DATABASE)")
	fs.StringVar(&o.ch.Username, "clickhouse-user", envOr("JEVONS_CLICKHOUSE_USER", o.ch.Username), "ClickHouse user (env JEVONS_CLICKHOUSE_USER)")
	chSec, kSec := clickhouseSecurityFlags(fs, &o.ch), kafkaSecurityFlags(fs)
	brokers := fs.String("brokers", "", "Kafka brokers, comma-separated (default: an in-process Kafka-protocol broker)")
	fs.StringVar(&o.topic, "topic", "jevons-demo.token-events", "event topic (deleted and recreated on a real broker)")
	fs.StringVar(&o.dir, "dir", envOr("JEVONS_DEMO_DIR", filepath.Join(os.TempDir(), "jevons-demo")), "where the report, truth, rules and logs go (env JEVONS_DEMO_DIR)")
	fs.IntVar(&o.story.Months, "months", o.story.Months, "months of history from 2026-01-01")
	fs.IntVar(&o.story.TasksPerDay, "tasks-per-day", o.story.TasksPerDay, "tasks on the first day of history")
	fs.IntVar(&o.live, "live-events", 1500, "live background events, stamped now")
	fs.Float64Var(&o.liveRate, "live-rate", 150, "live events per second")
	fs.IntVar(&o.runaway, "runaway-requests", 150, "requests of the runaway task (its rule fires above 100)")
	fs.DurationVar(&o.timeout, "timeout", 4*time.Minute, "longest wait for each step")
	fs.BoolVar(&o.down, "down", false, "drop the demo database and remove --dir, then exit")
	fs.BoolVar(&o.verbose, "verbose", false, "copy the aggregator's log to stderr (it always goes to --dir/aggregate.log)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	o.brokers = splitList(*brokers)
	var errs []error
	if err := chSec.apply(); err != nil {
		errs = append(errs, err)
	}
	if kcfg, err := kSec.config(); err != nil {
		errs = append(errs, err)
	} else if o.ksec, err = kcfg.Load(); err != nil {
		errs = append(errs, flagError(err))
	} else if o.kafka = kcfg; len(o.brokers) == 0 && !o.ksec.Plain() {
		errs = append(errs, errors.New("--kafka-sasl-* and --kafka-tls* need --brokers: the in-process broker speaks plaintext"))
	}
	if err := o.ch.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := o.story.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.live < 0 || o.liveRate <= 0 {
		errs = append(errs, fmt.Errorf("--live-events must be >= 0 and --live-rate > 0"))
	}
	if o.runaway < demoRunawayLimit+1 {
		errs = append(errs, fmt.Errorf("--runaway-requests must exceed the rule's limit %d, got %d", demoRunawayLimit, o.runaway))
	}
	if o.timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout must be > 0"))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(stderr, "jevons demo: %v\n", err)
		return nil, exitError{2}
	}
	return o, nil
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseDemoFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.down {
		return demoDown(ctx, o, stdout)
	}
	d := &demo{o: o, out: stdout, stderr: stderr, start: time.Now()}
	return d.run(ctx)
}
