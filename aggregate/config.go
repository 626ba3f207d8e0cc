package aggregate

import (
	"errors"
	"fmt"
	"time"

	"github.com/jevonsdev/jevons/ingest/emit"
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
	ReferenceDate     time.Time     // reference prices; zero: each model's first known price

	FlushInterval   time.Duration // wall time between flushes of a busy partition, default 2s
	IdleFlush       time.Duration // wall time after which an idle partition flushes, default 10s
	MaxDirty        int           // dirty states per partition that force a flush, default 20,000
	MemoryLimit     int64         // soft Go heap limit in bytes (0: none), default 384 MiB
	ShutdownTimeout time.Duration // wall time for the final flush, default 30s
	SessionTimeout  time.Duration // consumer group session, default 10s

	HTTPAddr   string // serves /metrics, /healthz, /readyz when set
	ClickHouse sink.Config
	Catalogs   []string // price catalog overlays
	Observer   Observer // sees each event applied to its task state (stream alerting); nil: none
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Brokers: []string{"127.0.0.1:9092"}, Topic: emit.DefaultTopic, Group: "jevons-aggregate",
		Window: time.Minute, TaskWindow: time.Hour, AllowedLateness: 2 * time.Minute,
		CorrectionHorizon: 35 * 24 * time.Hour, MaxFuture: 5 * time.Minute, DedupHorizon: 10 * time.Minute,
		FlushInterval: 2 * time.Second, IdleFlush: 10 * time.Second, MaxDirty: 20_000, MemoryLimit: 384 << 20,
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
	for name, d := range map[string]time.Duration{"window": c.Window, "task-window": c.TaskWindow} {
		if d < time.Second || d > 24*time.Hour || (24*time.Hour)%d != 0 {
			bad("%s: want a divisor of 24h of at least 1s, got %v", name, d)
		}
	}
	if c.AllowedLateness < 0 || c.DedupHorizon < 0 || c.MaxFuture < 0 {
		bad("allowed-lateness, dedup-horizon and max-future must be >= 0")
	}
	if c.CorrectionHorizon < c.AllowedLateness {
		bad("correction-horizon (%v) must be >= allowed-lateness (%v)", c.CorrectionHorizon, c.AllowedLateness)
	}
	if c.FlushInterval <= 0 || c.IdleFlush <= 0 || c.ShutdownTimeout <= 0 || c.SessionTimeout < 6*time.Second {
		bad("flush-interval, idle-flush and shutdown-timeout must be > 0 and session-timeout >= 6s")
	}
	if c.MaxDirty < 1 {
		bad("max-dirty must be >= 1")
	}
	if err := c.ClickHouse.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
