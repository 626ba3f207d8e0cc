package gateway

import (
	"errors"
	"fmt"
	"time"

	"github.com/jevonsdev/jevons/ingest/otlp"
)

// Config configures the gateway.
type Config struct {
	HTTPAddr string // OTLP/HTTP, events and provider usage; default :4318
	GRPCAddr string // OTLP/gRPC; default :4317; empty disables it
	TLSCert  string // serve TLS on both ports when cert and key are given
	TLSKey   string

	KeysFile   string        // hashed API keys (see Keys); required
	KeysReload time.Duration // how often the keys file is checked for changes

	MaxBodyBytes        int64   // per request, compressed and decompressed; default 5 MiB
	MaxEventsPerRequest int     // default 10,000
	RatePerSec          float64 // per-tenant events/s (token bucket); default 20,000
	RateBurst           int     // per-tenant bucket size; default 40,000 (>= MaxEventsPerRequest)
	MaxCardinality      int     // per tenant and UTC day, distinct (app, task_type, model); default 10,000

	ProduceTimeout  time.Duration // a request's wait for Kafka's acknowledgement; default 10s
	RetryAfter      time.Duration // told to clients when Kafka is unavailable; default 5s
	ShutdownTimeout time.Duration // drain of in-flight requests at SIGTERM; default 30s

	OTLP otlp.Config
	Now  func() time.Time // injected clock; default time.Now
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		HTTPAddr: ":4318", GRPCAddr: ":4317", KeysReload: 2 * time.Second,
		MaxBodyBytes: 5 << 20, MaxEventsPerRequest: 10_000, RatePerSec: 20_000, RateBurst: 40_000, MaxCardinality: 10_000,
		ProduceTimeout: 10 * time.Second, RetryAfter: 5 * time.Second, ShutdownTimeout: 30 * time.Second,
		OTLP: otlp.DefaultConfig(), Now: time.Now,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.HTTPAddr == "" {
		bad("http address: empty")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tls: give both a certificate and a key, or neither")
	}
	if c.KeysFile == "" {
		bad("keys file: required (create keys with `jevons keys create --tenant T --keys FILE`)")
	}
	if c.KeysReload <= 0 {
		bad("keys reload: must be > 0, got %v", c.KeysReload)
	}
	if c.MaxBodyBytes < 1024 {
		bad("max body bytes: must be >= 1024, got %d", c.MaxBodyBytes)
	}
	if c.MaxEventsPerRequest < 1 {
		bad("max events per request: must be >= 1, got %d", c.MaxEventsPerRequest)
	}
	if c.RatePerSec <= 0 || c.RateBurst < c.MaxEventsPerRequest {
		bad("rate: events/s must be > 0 and burst (%d) >= max events per request (%d), or no full request could ever pass", c.RateBurst, c.MaxEventsPerRequest)
	}
	if c.MaxCardinality < 1 {
		bad("max cardinality: must be >= 1, got %d", c.MaxCardinality)
	}
	if c.ProduceTimeout <= 0 || c.RetryAfter < time.Second || c.ShutdownTimeout <= 0 {
		bad("produce timeout and shutdown timeout must be > 0 and retry-after >= 1s")
	}
	if c.Now == nil {
		bad("clock: nil")
	}
	if err := c.OTLP.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
