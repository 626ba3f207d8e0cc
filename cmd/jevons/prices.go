package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/sink"
)

func runPrices(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub := map[string]func([]string, io.Writer, io.Writer) error{
		"cost": pricesCost, "lookup": pricesLookup, "validate": pricesValidate, "unknown": pricesUnknown,
	}
	if len(args) == 0 || sub[args[0]] == nil {
		fmt.Fprintln(stderr, `usage: jevons prices <cost|lookup|validate|unknown> [flags]
  cost      price one request: --provider P --model M --input N --output N ... --at RFC3339
  lookup    the prices that apply to a model at a time
  validate  check catalog overlay files, listing every problem
  unknown   list the models the catalog cannot price: from schema v1 events (JSON lines) on
            stdin, or from the aggregator's usage view with --clickhouse ADDR [--database D]
Catalog overlays: --catalog FILE (repeatable) or JEVONS_CATALOG (list separated by ':').
Run 'jevons prices <subcommand> --help' for its flags.`)
		fmt.Fprint(stderr, exampleText("prices"))
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return exitError{2}
	}
	return sub[args[0]](args[1:], stdout, stderr)
}

func catalogFlag(fs *flag.FlagSet) *listFlag {
	l := listFlag(envList("JEVONS_CATALOG"))
	fs.Var(&l, "catalog", "price catalog overlay file, JSON or YAML (repeatable; env JEVONS_CATALOG)")
	return &l
}

func timeFlag(fs *flag.FlagSet, name, usage string) *string {
	return fs.String(name, "", usage+" (RFC 3339; default now)")
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Now().UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--at: want RFC 3339 such as 2025-06-01T12:00:00Z, got %q", s)
	}
	return t, nil
}

type costOutput struct {
	Provider   string  `json:"provider"`
	Model      string  `json:"model"`
	ProviderID *string `json:"provider_id"`
	ModelID    *string `json:"model_id"`
	Priced     bool    `json:"priced"`
	PriceFrom  *string `json:"price_from"`
	TierStart  *int64  `json:"tier_start"`
	CostNanos  int64   `json:"cost_nanos"`
	CostUSD    string  `json:"cost_usd"`
}

func pricesCost(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("prices cost", stderr)
	provider := fs.String("provider", "", "provider, an OpenTelemetry gen_ai.provider.name or a catalog id (required)")
	model := fs.String("model", "", "model name as the provider reports it (required)")
	var u pricing.Usage
	fs.Int64Var(&u.Input, "input", 0, "input tokens, cache reads and writes included")
	fs.Int64Var(&u.Output, "output", 0, "output tokens, reasoning included")
	fs.Int64Var(&u.CacheRead, "cache-read", 0, "cache read tokens")
	fs.Int64Var(&u.CacheWrite, "cache-write", 0, "cache write tokens, 1-hour writes included")
	fs.Int64Var(&u.CacheWrite1h, "cache-write-1h", 0, "1-hour cache write tokens")
	fs.Int64Var(&u.Reasoning, "reasoning", 0, "reasoning tokens")
	atFlag := timeFlag(fs, "at", "when the request happened")
	catalogs := catalogFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *provider == "" || *model == "" {
		return errors.New("--provider and --model are required")
	}
	t, err := parseTime(*atFlag)
	if err != nil {
		return err
	}
	cat, err := pricing.Load(*catalogs...)
	if err != nil {
		return err
	}
	r, err := cat.CostAt(u, *provider, *model, t)
	if err != nil {
		return err
	}
	out := costOutput{Provider: *provider, Model: *model, Priced: r.Priced, CostNanos: r.CostNanos, CostUSD: pricing.FormatNanos(r.CostNanos)}
	if r.Priced {
		out.ProviderID, out.ModelID = &r.ProviderID, &r.ModelID
	}
	if !r.PriceFrom.IsZero() {
		s := r.PriceFrom.Format(time.DateOnly)
		out.PriceFrom = &s
	}
	if r.Tiered {
		out.TierStart = &r.TierStart
	}
	if err := writeJSON(stdout, out); err != nil {
		return err
	}
	if !r.Priced {
		fmt.Fprintf(stderr, "jevons prices cost: no catalog entry for provider %q model %q\n", *provider, *model)
		return exitError{1}
	}
	return nil
}

func pricesLookup(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("prices lookup", stderr)
	provider := fs.String("provider", "", "provider (required)")
	model := fs.String("model", "", "model (required)")
	atFlag := timeFlag(fs, "at", "the time to look prices up at")
	catalogs := catalogFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *provider == "" || *model == "" {
		return errors.New("--provider and --model are required")
	}
	t, err := parseTime(*atFlag)
	if err != nil {
		return err
	}
	cat, err := pricing.Load(*catalogs...)
	if err != nil {
		return err
	}
	m := cat.Match(*provider, *model)
	if m == nil {
		_ = writeJSON(stdout, map[string]any{"provider": *provider, "model": *model, "priced": false})
		fmt.Fprintf(stderr, "jevons prices lookup: no catalog entry for provider %q model %q\n", *provider, *model)
		return exitError{1}
	}
	prices, from := m.PricesAt(t)
	var fromStr *string
	if !from.IsZero() {
		s := from.Format(time.DateOnly)
		fromStr = &s
	}
	return writeJSON(stdout, map[string]any{
		"provider": *provider, "model": *model, "priced": true, "provider_id": m.Provider.ID,
		"model_id": m.ID, "source": m.Source, "at": t.Format(time.RFC3339), "price_from": fromStr,
		"prices_per_mtok_usd": prices,
	})
}

func pricesValidate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("prices validate", stderr)
	catalogs := catalogFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cat, err := pricing.Load(*catalogs...)
	if err != nil {
		return err
	}
	models := 0
	for _, p := range cat.Providers() {
		models += len(p.Models)
	}
	fmt.Fprintf(stdout, "ok: %d providers, %d models (default catalog plus %d overlay files)\n", len(cat.Providers()), models, len(*catalogs))
	return nil
}

func pricesUnknown(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("prices unknown", stderr)
	catalogs := catalogFlag(fs)
	chCfg := sink.DefaultConfig()
	chAddr := fs.String("clickhouse", "", "read unpriced requests from this ClickHouse's usage view instead of events on stdin")
	fs.StringVar(&chCfg.Database, "database", chCfg.Database, "ClickHouse database, with --clickhouse")
	fs.StringVar(&chCfg.Username, "clickhouse-user", envOr("JEVONS_CLICKHOUSE_USER", chCfg.Username), "ClickHouse user, with --clickhouse (env JEVONS_CLICKHOUSE_USER)")
	chSec := clickhouseSecurityFlags(fs, &chCfg)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := chSec.apply(); err != nil {
		return err
	}
	var unknown []pricing.UnknownModel
	if *chAddr != "" {
		chCfg.Addr = *chAddr
		u, err := unpricedInClickHouse(chCfg)
		if err != nil {
			return err
		}
		unknown = u
	} else {
		cat, err := pricing.Load(*catalogs...)
		if err != nil {
			return err
		}
		if err := scanEvents(os.Stdin, func(provider, model string) {
			// CostAt records every pair it cannot price; usage is irrelevant here.
			_, _ = cat.CostAt(pricing.Usage{}, provider, model, time.Time{})
		}); err != nil {
			return err
		}
		unknown = cat.Unknown()
	}
	enc := json.NewEncoder(stdout)
	for _, u := range unknown {
		if err := enc.Encode(u); err != nil {
			return err
		}
	}
	return nil
}

// scanEvents reads schema v1 events as JSON lines and reports each one's
// provider and model.
func scanEvents(r io.Reader, f func(provider, model string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var e struct{ Provider, Model string }
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("stdin line %d: %w", line, err)
		}
		f(e.Provider, e.Model)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read stdin: %w", err)
	}
	return nil
}

// unpricedInClickHouse lists the models the aggregator could not price.
func unpricedInClickHouse(cfg sink.Config) ([]pricing.UnknownModel, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := sink.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	rows, err := conn.Query(ctx, "SELECT provider, model, toInt64(sum(unpriced_requests)) AS n FROM "+cfg.Database+
		".usage GROUP BY provider, model HAVING n > 0 ORDER BY n DESC, provider, model")
	if err != nil {
		return nil, fmt.Errorf("query unpriced requests: %w", err)
	}
	defer rows.Close()
	var out []pricing.UnknownModel
	for rows.Next() {
		var u pricing.UnknownModel
		if err := rows.Scan(&u.Provider, &u.Model, &u.Requests); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
