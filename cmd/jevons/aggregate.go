package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/aggregate"
	"github.com/jevonsdev/jevons/internal/procstat"
)

func runAggregate(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlagSet("aggregate", stderr)
	cfg := aggregate.DefaultConfig()
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: jevons aggregate [flags]

Consumes token events from Kafka, prices each at its own time, folds them into
event-time windows and writes exact usage and per-task rollups to ClickHouse
(views "usage" and "tasks"). Every flag can also be set by the environment
variable JEVONS_<FLAG> (upper case, '-' as '_') or by a YAML file (--config)
whose keys are the flag names; the command line wins, then the environment.

flags:`)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), exampleText("aggregate"))
	}
	configFile := fs.String("config", "", "YAML config file; keys are the flag names")
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated")
	fs.StringVar(&cfg.Topic, "topic", cfg.Topic, "input topic of token events")
	fs.StringVar(&cfg.Group, "group", cfg.Group, "Kafka consumer group; checkpoints are kept per group")
	fs.StringVar(&cfg.DLQTopic, "dlq-topic", "", "dead-letter topic (default <topic>.dlq, created if missing)")
	fs.StringVar(&cfg.ClickHouse.Addr, "clickhouse", cfg.ClickHouse.Addr, "ClickHouse native-protocol address host:port")
	fs.StringVar(&cfg.ClickHouse.Database, "database", cfg.ClickHouse.Database, "ClickHouse database (created and migrated at start)")
	fs.StringVar(&cfg.ClickHouse.Username, "clickhouse-user", cfg.ClickHouse.Username, "ClickHouse user")
	chSec := clickhouseSecurityFlags(fs, &cfg.ClickHouse)
	kSec := kafkaSecurityFlags(fs)
	clusterFlag(fs, &cfg.ClickHouse)
	fs.DurationVar(&cfg.Window, "window", cfg.Window, "usage rollup window (event time; a divisor of 24h)")
	fs.DurationVar(&cfg.TaskWindow, "task-window", cfg.TaskWindow, "cost-per-task partial window (event time; a divisor of 24h)")
	fs.DurationVar(&cfg.AllowedLateness, "allowed-lateness", cfg.AllowedLateness, "watermark = newest event time of a partition minus this; older windows close")
	fs.DurationVar(&cfg.CorrectionHorizon, "correction-horizon", cfg.CorrectionHorizon, "late events up to this old are added to their window as corrections; older ones are dead-lettered")
	fs.DurationVar(&cfg.MaxFuture, "max-future", cfg.MaxFuture, "events dated further ahead of their Kafka message time are dead-lettered")
	fs.DurationVar(&cfg.DedupHorizon, "dedup-horizon", cfg.DedupHorizon, "a second delivery of (tenant, event_id) within this much event time counts once; memory grows with events per horizon")
	fs.IntVar(&cfg.DedupMaxEntries, "dedup-max-entries", cfg.DedupMaxEntries, "duplicate-set entries kept per partition at most (about 17 bytes each, at most 8388608); past it the oldest leave before their horizon, counted in jevons_aggregate_dedup_early_evictions_total")
	refDate := fs.String("reference-date", "", "price every event also at this date (YYYY-MM-DD) for ref_cost_nanos; default: each model's first known price")
	fs.DurationVar(&cfg.MaxStaleness, "max-staleness", cfg.MaxStaleness, "freshness target: a counted event reaches ClickHouse within this wall time (while ClickHouse keeps up); partitions flush as rarely as it allows")
	fs.DurationVar(&cfg.FlushInterval, "flush-interval", cfg.FlushInterval, "if set, wall time between flushes at most (0: adapt to --max-staleness)")
	fs.DurationVar(&cfg.IdleFlush, "idle-flush", cfg.IdleFlush, "wall time without new events after which a partition flushes its open windows")
	fs.IntVar(&cfg.MaxDirty, "max-dirty", cfg.MaxDirty, "changed task and minute states, waiting late events and dead letters per partition that force a flush (bounds memory; the day and month states the same events changed are written with them)")
	memMiB := fs.Int64("memory-limit-mib", cfg.MemoryLimit>>20, "soft memory limit in MiB: the Go runtime is held an eighth of it (24 to 32 MiB) below, for the binary's own pages, and collects as the heap nears it unless GOGC is set or the limit is above the memory available (0: none, the collector runs as the heap doubles; GOMEMLIMIT wins, with Go's default pacing)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "time allowed for the final flush on SIGTERM or partition revocation")
	fs.DurationVar(&cfg.SessionTimeout, "session-timeout", cfg.SessionTimeout, "consumer group session timeout")
	fs.StringVar(&cfg.ResetFrom, "reset-from", "", "a partition consumed before that has no checkpoint in this database (a new database or group): 'earliest' recounts it from its first offset, 'committed' continues from the committed Kafka offset (inexact); unset, the aggregator refuses to start")
	fs.StringVar(&cfg.HTTPAddr, "http", "", "serve /metrics, /healthz and /readyz on this address (e.g. :9464)")
	catalogs := listFlag{}
	fs.Var(&catalogs, "catalog", "price catalog overlay file, JSON or YAML (repeatable; env: ':'-separated)")
	rules := listFlag{}
	fs.Var(&rules, "rules", "alert rules file (repeatable; env: ':'-separated): its runaway_task rules are evaluated here, in the stream")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (also: /debug/pprof/profile on --http)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := layer(fs, *configFile); err != nil {
		return err
	}
	if err := chSec.apply(); err != nil {
		return err
	}
	kcfg, err := kSec.config()
	if err != nil {
		return err
	}
	cfg.KafkaSecurity = kcfg
	cfg.Brokers, cfg.Catalogs, cfg.MemoryLimit = splitList(*brokers), catalogs, *memMiB<<20
	ref, err := parseDate("reference-date", *refDate)
	if err != nil {
		return err
	}
	cfg.ReferenceDate = ref
	log, err := newLogger(*level, stderr)
	if err != nil {
		return err
	}
	defer log.Sync()
	var stream *streamAlerts
	if len(rules) > 0 {
		if stream, err = newStreamAlerts(rules, cfg.Group, cfg.ClickHouse, log); err != nil {
			return err
		}
		cfg.Observer = stream.runaway
	}
	agg, err := aggregate.New(cfg, log)
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		pf, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return fmt.Errorf("cpuprofile: %w", err)
		}
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	// The states and the duplicate set are bounded by configuration, and
	// nearly all else the aggregator allocates dies young: under the limit
	// Run sets (first thing), the collector runs as the heap nears it
	// instead of each time the heap doubles (README, "The aggregator's
	// throughput"). Not when GOGC is set, nor under a GOMEMLIMIT, which
	// keeps no room for the binary's own pages, nor when the limit is
	// above the memory the process can have, where waiting for it would
	// mean growing until killed.
	if cfg.MemoryLimit > 0 && os.Getenv("GOMEMLIMIT") == "" && os.Getenv("GOGC") == "" {
		if ceiling := procstat.MemoryCeiling(); ceiling > 0 && cfg.MemoryLimit > ceiling {
			log.Warn("the memory limit is above the memory this process can have (its cgroup's or the machine's): the collector runs each time the heap doubles instead of at the limit; lower --memory-limit-mib",
				zap.Int64("memory_limit_mib", cfg.MemoryLimit>>20), zap.Int64("available_mib", ceiling>>20))
		} else {
			debug.SetGCPercent(-1)
		}
	}
	start := time.Now()
	if stream != nil {
		err = stream.run(ctx, agg)
	} else {
		err = agg.Run(ctx)
	}
	log.Info("exit", zap.Duration("uptime", time.Since(start)))
	return err
}
