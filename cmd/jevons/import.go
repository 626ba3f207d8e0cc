package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/ingest/emit"
	"github.com/jevonsdev/jevons/ingest/history"
	"github.com/jevonsdev/jevons/ingest/providers"
	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/sink"
)

func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("import", stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: jevons import [flags] FILE...

Loads past usage through the event topic, each event stamped at its own time,
so the aggregator prices it at the price of its day. Formats: ndjson (schema-v1
events, one a line) and openai-usage (pages of the OpenAI Usage API,
/v1/organization/usage/completions with bucket_width=1d and group_by=model).
Every file is checked first; a bad line or result fails the import, naming
it, before anything is sent. Events already imported are not sent again.

flags:`)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), exampleText("import"))
	}
	brokers := brokersFlag(fs)
	topic := fs.String("topic", envOr("JEVONS_TOPIC", emit.DefaultTopic), "event topic (env JEVONS_TOPIC)")
	partitions := fs.Int("partitions", 12, "partitions when the topic must be created")
	ch := sink.DefaultConfig()
	chSec := clickhouseFlags(fs, &ch)
	kSec := kafkaSecurityFlags(fs)
	format := fs.String("format", "ndjson", "ndjson or openai-usage")
	tenant := fs.String("tenant", "", "openai-usage: the tenant the organisation's usage belongs to (required)")
	app := fs.String("app", "", "openai-usage: app of results without a project_id")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return exitError{2}
	}
	files := fs.Args()
	if err := chSec.apply(); err != nil {
		return err
	}
	ksec, err := kSec.load()
	if err != nil {
		return err
	}
	switch {
	case len(files) == 0:
		fmt.Fprintln(stderr, "jevons import: no FILE given")
		return exitError{2}
	case *format != "ndjson" && *format != "openai-usage":
		fmt.Fprintf(stderr, "jevons import: --format: want ndjson or openai-usage, got %q\n", *format)
		return exitError{2}
	case *format == "openai-usage" && *tenant == "":
		fmt.Fprintln(stderr, "jevons import: --tenant: required with --format openai-usage")
		return exitError{2}
	}
	parsed := make([][]schemas.Event, len(files))
	var bad []error
	for i, f := range files {
		evs, err := readHistory(f, *format, providers.OpenAIOptions{Tenant: *tenant, App: *app})
		if err != nil {
			bad = append(bad, fmt.Errorf("%s: %w", f, err))
		}
		parsed[i] = evs
	}
	if len(bad) > 0 {
		fmt.Fprintf(stderr, "jevons import: nothing imported:\n%v\n", errors.Join(bad...))
		return exitError{1}
	}
	conn, err := sink.Open(ctx, ch)
	if err != nil {
		return err
	}
	defer conn.Close()
	migs, err := sink.LoadMigrations(schemas.ClickHouse, "clickhouse")
	if err != nil {
		return err
	}
	if _, err := sink.MigrateCluster(ctx, conn, ch.Database, ch.Cluster, migs, zap.NewNop()); err != nil {
		return err
	}
	p, err := history.NewProducer(ctx, ksec, splitList(*brokers), *topic, *partitions)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	var runErr error
	for i, f := range files {
		im := &history.Importer{Producer: p, Ledger: &history.ClickHouseLedger{Conn: conn, DB: ch.Database, Now: time.Now}, Source: *format + ":" + f}
		st, err := im.Import(ctx, parsed[i])
		if err != nil {
			runErr = fmt.Errorf("%s: %w (%d events sent before the error)", f, err, st.Sent)
			break
		}
		if err := enc.Encode(map[string]any{"file": f, "format": *format, "stats": st}); err != nil {
			runErr = err
			break
		}
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return errors.Join(runErr, p.Close(closeCtx))
}

func readHistory(path, format string, opt providers.OpenAIOptions) ([]schemas.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if format == "openai-usage" {
		return providers.OpenAIUsage(f, opt)
	}
	return history.ReadNDJSON(f)
}
