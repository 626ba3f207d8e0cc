package aggregate

import (
	"errors"
	"fmt"
	"time"

	"github.com/jevonsdev/jevons/ingest/emit"
	"github.com/jevonsdev/jevons/secure"
	"github.com/jevonsdev/jevons/sink"
)

// Config configures the aggregator. Durations are event time unless noted.
type Config struct {
	Brokers  []string
	Topic    string
	Group    string
	DLQTopic string // default Topic + ".dlq"

	Window            time.Duration // usage window, default 1m
	TaskWindow        time.Duration // task partial window, default 1h
	AllowedLateness   time.Duration // watermark = max event time - lateness, default 2m
	CorrectionHorizon time.Duration // older events are dead-lettered, default 35 days
	MaxFuture         time.Duration // events further ahead of their message are dead-lettered, default 5m
	DedupHorizon      time.Duration // duplicates within it count once, default 10m
	DedupMaxEntries   int           // duplicate-set entries per partition at most, default 200,000
	ReferenceDate     time.Time     // reference prices; zero: each model's first known price

	MaxStaleness    time.Duration // wall time a counted event may wait to reach ClickHouse (freshness target), default 5s
	FlushInterval   time.Duration // if set, wall time between flushes at most; default 0: adapt to MaxStaleness
	IdleFlush       time.Duration // wall time after which an idle partition flushes, default 10s
	MaxDirty        int           // changed task and minute states, waiting late events and dead letters per partition that force a flush, default 20,000 (see partition.pressure)
	MemoryLimit     int64         // soft limit of the resident set in bytes (0: none), default 512 MiB; see runtimeMemoryLimit
	ShutdownTimeout time.Duration // wall time for the final flush, default 30s
	SessionTimeout  time.Duration // consumer group session, default 10s

	ResetFrom string // a partition consumed before but without a checkpoint: "" refuses, ResetEarliest, ResetCommitted

	HTTPAddr   string // serves /metrics, /healthz, /readyz when set
	ClickHouse sink.Config
	// KafkaSecurity: SASL/SCRAM and TLS towards the brokers; zero: plaintext.
	KafkaSecurity secure.KafkaConfig
	Catalogs      []string // price catalog overlays
	Observer      Observer // sees each event applied to its task state (stream alerting); nil: none
}

// What a partition without a checkpoint but consumed before starts from.
const (
	ResetEarliest  = "earliest"  // its first offset: recount it exactly (stored states are loaded; their versions skip what they hold)
	ResetCommitted = "committed" // the committed Kafka offset: duplicates of earlier events may count twice
)

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Brokers: []string{"127.0.0.1:9092"}, Topic: emit.DefaultTopic, Group: "jevons-aggregate",
		Window: time.Minute, TaskWindow: time.Hour, AllowedLateness: 2 * time.Minute,
		CorrectionHorizon: 35 * 24 * time.Hour, MaxFuture: 5 * time.Minute, DedupHorizon: 10 * time.Minute, DedupMaxEntries: 200_000,
		MaxStaleness: 5 * time.Second, IdleFlush: 10 * time.Second, MaxDirty: 20_000, MemoryLimit: 512 << 20,
		ShutdownTimeout: 30 * time.Second, SessionTimeout: 10 * time.Second,
		ClickHouse: sink.DefaultConfig(),
	}
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Brokers) == 0 {
		bad("brokers: none given")
	}
	if c.Topic == "" || c.Group == "" {
		bad("topic and group must be set")
	}
	if c.DLQTopic == "" {
		c.DLQTopic = c.Topic + ".dlq"
	}
	if c.DLQTopic == c.Topic {
		bad("dlq topic must differ from the input topic")
	}
	// Window starts are stored as DateTime (whole seconds): a window that is
	// not whole seconds would come back from ClickHouse under another key.
	// Task windows are whole minutes, as the task views read them.
	for _, w := range []struct {
		name     string
		d, unit  time.Duration
		unitName string
	}{{"window", c.Window, time.Second, "second"}, {"task-window", c.TaskWindow, time.Minute, "minute"}} {
		if w.d < w.unit || w.d > 24*time.Hour || w.d%w.unit != 0 || (24*time.Hour)%w.d != 0 {
			bad("%s: want whole %ss dividing 24h (e.g. 1m, 1h), got %v", w.name, w.unitName, w.d)
		}
	}
	if c.AllowedLateness < 0 || c.DedupHorizon < 0 || c.MaxFuture < 0 {
		bad("allowed-lateness, dedup-horizon and max-future must be >= 0")
	}
	if c.CorrectionHorizon < c.AllowedLateness {
		bad("correction-horizon (%v) must be >= allowed-lateness (%v)", c.CorrectionHorizon, c.AllowedLateness)
	}
	if c.FlushInterval < 0 || c.IdleFlush <= 0 || c.ShutdownTimeout <= 0 || c.SessionTimeout < 6*time.Second {
		bad("flush-interval must be >= 0, idle-flush and shutdown-timeout > 0 and session-timeout >= 6s")
	}
	if c.MaxStaleness < time.Second {
		bad("max-staleness must be >= 1s (a flush takes a while), got %v", c.MaxStaleness)
	}
	if c.MaxDirty < 1 {
		bad("max-dirty must be >= 1")
	}
	if c.ResetFrom != "" && c.ResetFrom != ResetEarliest && c.ResetFrom != ResetCommitted {
		bad("reset-from: want %q or %q, got %q", ResetEarliest, ResetCommitted, c.ResetFrom)
	}
	if c.DedupMaxEntries < 1000 || c.DedupMaxEntries > maxDedupEntries {
		bad("dedup-max-entries must be between 1000 and %d, got %d", maxDedupEntries, c.DedupMaxEntries)
	}
	if err := c.ClickHouse.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.KafkaSecurity.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
