package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/jevonsdev/jevons/ingest/gateway"
)

func runIngest(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlagSet("ingest", stderr)
	cfg, kcfg := gateway.DefaultConfig(), gateway.DefaultKafkaConfig()
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: jevons ingest [flags]
Serves the ingest gateway: POST /v1/events (schema v1, JSON array or NDJSON),
POST /v1/traces (OTLP/HTTP, protobuf or JSON), OTLP/gRPC on --grpc, and
POST /v1/usage/{openai|anthropic|gemini|bedrock} (provider response bodies).
Requests carry Authorization: Bearer <key> (see jevons keys). A 2xx means Kafka
acknowledged every accepted event. Every flag can also be set by JEVONS_<FLAG>
or a YAML --config file.
flags:`)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), exampleText("ingest"))
	}
	configFile := fs.String("config", "", "YAML config file; keys are the flag names")
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated")
	fs.StringVar(&kcfg.Topic, "topic", kcfg.Topic, "topic to produce token events to (created if missing)")
	fs.IntVar(&kcfg.Partitions, "partitions", kcfg.Partitions, "partitions when the topic is created")
	fs.StringVar(&kcfg.Compression, "compression", kcfg.Compression, "none, gzip, snappy, lz4 or zstd")
	fs.IntVar(&kcfg.BatchSize, "batch-size", kcfg.BatchSize, "most messages in one partition's produce batch")
	fs.DurationVar(&kcfg.BatchTimeout, "batch-timeout", kcfg.BatchTimeout, "how long a partition's produce batch waits for more requests' events")
	fs.StringVar(&cfg.HTTPAddr, "http", cfg.HTTPAddr, "HTTP address (events, OTLP/HTTP, provider usage, /metrics, /healthz)")
	fs.StringVar(&cfg.GRPCAddr, "grpc", cfg.GRPCAddr, "OTLP/gRPC address (empty: off)")
	fs.StringVar(&cfg.GRPCAddr, "otlp-grpc", cfg.GRPCAddr, "the same as --grpc")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate file (PEM); with --tls-key serves TLS on both ports")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&cfg.KeysFile, "keys", "", "keys file written by `jevons keys` (reloaded when it changes)")
	fs.DurationVar(&cfg.KeysReload, "keys-reload", cfg.KeysReload, "how often the keys file is checked for changes")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", cfg.MaxBodyBytes, "largest request body, sent and decompressed (413 beyond)")
	fs.IntVar(&cfg.MaxEventsPerRequest, "max-events", cfg.MaxEventsPerRequest, "most events or usage spans per request (413 beyond)")
	fs.Float64Var(&cfg.RatePerSec, "rate", cfg.RatePerSec, "per-tenant events/s (token bucket; 429 with Retry-After beyond)")
	fs.IntVar(&cfg.RateBurst, "burst", cfg.RateBurst, "per-tenant bucket size in events (>= --max-events)")
	fs.IntVar(&cfg.MaxCardinality, "max-cardinality", cfg.MaxCardinality, "per tenant and UTC day, distinct (app, task_type, model); beyond it app and task_type become 'other'")
	fs.DurationVar(&cfg.ProduceTimeout, "produce-timeout", cfg.ProduceTimeout, "how long a request waits for Kafka's acknowledgement before 503")
	fs.DurationVar(&cfg.RetryAfter, "retry-after", cfg.RetryAfter, "Retry-After told to clients when Kafka is unavailable")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "drain time for in-flight requests on SIGTERM")
	taskAttrs := fs.String("otlp-task-id-attrs", join(cfg.OTLP.TaskIDAttrs), "span/resource attributes naming the task, tried in order (else the trace id)")
	typeAttrs := fs.String("otlp-task-type-attrs", join(cfg.OTLP.TaskTypeAttrs), "attributes naming the task type, tried in order")
	appAttrs := fs.String("otlp-app-attrs", join(cfg.OTLP.AppAttrs), "attributes naming the app, tried in order")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	kSec := kafkaSecurityFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := layer(fs, *configFile); err != nil {
		return err
	}
	sec, err := kSec.config()
	if err != nil {
		return err
	}
	kcfg.Brokers, kcfg.Security = splitList(*brokers), sec
	cfg.OTLP.TaskIDAttrs, cfg.OTLP.TaskTypeAttrs, cfg.OTLP.AppAttrs = splitList(*taskAttrs), splitList(*typeAttrs), splitList(*appAttrs)
	log, err := newLogger(*level, stderr)
	if err != nil {
		return err
	}
	defer log.Sync()
	prod, err := gateway.NewKafkaProducer(kcfg, log)
	if err != nil {
		return err
	}
	gw, err := gateway.New(cfg, prod, log)
	if err != nil {
		return err
	}
	gw.SetReady(false)
	eg, gctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		if err := prod.EnsureTopic(gctx); err != nil {
			if gctx.Err() == nil {
				return err
			}
			return nil
		}
		gw.SetReady(true)
		return nil
	})
	eg.Go(func() error { return gw.Run(gctx) })
	err = eg.Wait()
	if cerr := prod.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close producer: %w", cerr)
	}
	log.Info("exit", zap.Error(err))
	return err
}

func join(l []string) string {
	s := ""
	for i, v := range l {
		if i > 0 {
			s += ","
		}
		s += v
	}
	return s
}

func runKeys(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "list" && args[0] != "revoke") {
		fmt.Fprintln(stderr, `usage: jevons keys <create|list|revoke> --keys FILE [flags]
  create --tenant T        make a key for tenant T; prints the secret once (only its hash is stored)
  list [--tenant T]        list keys: id, tenant, created, revoked
  revoke --id ID | --tenant T   revoke one key, or every key of a tenant
A running gateway reloads the file within --keys-reload.`+"\n"+exampleText("keys"))
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return exitError{2}
	}
	fs := newFlagSet("keys "+args[0], stderr)
	fs.Usage = defaultUsage(fs)
	path := fs.String("keys", envOr("JEVONS_KEYS", ""), "keys file (env JEVONS_KEYS)")
	tenant := fs.String("tenant", "", "tenant")
	id := fs.String("id", "", "key id (revoke)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *path == "" {
		return errorf("--keys FILE is required")
	}
	f, err := gateway.ReadKeysFile(*path)
	if err != nil {
		return err
	}
	now := time.Now()
	switch args[0] {
	case "create":
		secret, k, err := gateway.NewKey(*tenant, now)
		if err != nil {
			return err
		}
		f.Keys = append(f.Keys, k)
		if err := gateway.WriteKeysFile(*path, f); err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(map[string]string{"id": k.ID, "tenant": k.Tenant, "key": secret})
		}
		fmt.Fprintf(stdout, "%s\n", secret)
		fmt.Fprintf(stderr, "key %s for tenant %s created; the secret above is shown only once\n", k.ID, k.Tenant)
	case "list":
		if *asJSON {
			return json.NewEncoder(stdout).Encode(f.Keys)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTENANT\tCREATED\tREVOKED")
		for _, k := range f.Keys {
			if *tenant != "" && k.Tenant != *tenant {
				continue
			}
			rev := "-"
			if k.Revoked != nil {
				rev = k.Revoked.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, k.Tenant, k.Created.Format(time.RFC3339), rev)
		}
		return tw.Flush()
	case "revoke":
		if *id == "" && *tenant == "" {
			return errorf("revoke: give --id ID or --tenant T")
		}
		n := f.Revoke(*id, *tenant, now)
		if n == 0 {
			return errorf("revoke: no active key matches --id %q --tenant %q", *id, *tenant)
		}
		if err := gateway.WriteKeysFile(*path, f); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "%d key(s) revoked\n", n)
	}
	return nil
}
