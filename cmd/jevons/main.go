// Command jevons is the Jevons token-usage telemetry pipeline: it prices
// model requests, generates load, migrates ClickHouse and aggregates the
// event stream into cost rollups.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // --tz works on machines and images without a zone database
)

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"demo", "run the whole story on this machine: history, live traffic, alerts, the verdict and an HTML report", runDemo},
		{"prices", "price requests with the effective-dated catalog (cost, lookup, validate, unknown)", runPrices},
		{"aggregate", "consume token events and write exact cost rollups to ClickHouse", runAggregate},
		{"migrate", "create or upgrade the ClickHouse tables and views", runMigrate},
		{"bench", "measure raw Kafka fetch against the whole pipeline on real services", runBench},
		{"verify", "compare the ClickHouse views with a loadgen truth file, exactly", runVerify},
		{"loadgen", "send seeded synthetic token events to Kafka, with the exact truth", runLoadgen},
		{"import", "load past usage (schema-v1 NDJSON, OpenAI usage exports) through the event topic, once", runImport},
		{"report", "answer the Jevons question for a slice: unit cost, usage, spend and why (text, JSON, HTML)", runReport},
		{"alert", "evaluate alert rules (budget, threshold, spike, jevons) and notify; check validates rules", runAlert},
		{"ingest", "serve the ingest gateway: HTTP events, OTLP traces and provider usage into Kafka", runIngest},
		{"keys", "create, list and revoke the gateway's per-tenant API keys", runKeys},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exitError carries a specific exit code, with its message already printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, args[1:], stdout, stderr)
			var ee exitError
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.As(err, &ee):
				return ee.code
			default:
				fmt.Fprintf(stderr, "jevons %s: %v\n", c.name, err)
				return 1
			}
		}
	}
	fmt.Fprintf(stderr, "jevons: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: jevons <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'jevons <command> --help' for a command's flags.")
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("jevons "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = defaultUsage(fs)
	return fs
}

// parseFlags parses and rejects stray positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return exitError{2}
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitError{2}
	}
	return nil
}

// envList reads a list of paths from an environment variable.
func envList(name string) []string {
	v := os.Getenv(name)
	if v == "" {
		return nil
	}
	return strings.Split(v, string(os.PathListSeparator))
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
