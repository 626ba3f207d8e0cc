package main

import (
	"flag"
	"fmt"
	"strings"
)

// examples holds each command's usage examples, keyed by the flag set's name
// without the "jevons " prefix ("aggregate", "prices cost"). Every command's
// --help prints its entry; help_test.go fails for a command without one.
var examples = map[string][]string{
	"aggregate": {
		"jevons aggregate --brokers 127.0.0.1:9092 --clickhouse 127.0.0.1:9000 --http :9464",
		"JEVONS_BROKERS=kafka:9092 jevons aggregate --config aggregate.yaml",
	},
	"demo": {"jevons demo --clickhouse 127.0.0.1:9000", "jevons demo --brokers 127.0.0.1:9092 --dir /tmp/jevons-demo", "jevons demo --down"},
	"migrate": {
		"jevons migrate --clickhouse 127.0.0.1:9000 --database jevons",
		"jevons migrate --clickhouse ch-0:9000,ch-1:9000 --cluster jevons",
		"jevons migrate --cluster jevons --print",
	},
	"bench": {
		"jevons bench --brokers 127.0.0.1:9092 --clickhouse 127.0.0.1:9000 --events 1000000",
		"jevons bench --brokers 127.0.0.1:29192,127.0.0.1:29193 --clickhouse 127.0.0.1:29300,127.0.0.1:29302 --cluster jevons --aggregators 3",
		"jevons bench --live --dims realistic --events 500000",
	},
	"verify":  {"jevons verify --clickhouse 127.0.0.1:9000 --truth /tmp/truth.json"},
	"loadgen": {"jevons loadgen --brokers 127.0.0.1:9092 --events 100000 --truth /tmp/truth.json"},
	"prices": {
		"jevons prices cost --provider openai --model gpt-4o --input 1200 --output 300 --at 2025-06-01T12:00:00Z",
		"jevons prices unknown --clickhouse 127.0.0.1:9000",
	},
	"prices cost":     {"jevons prices cost --provider anthropic --model claude-sonnet-4 --input 20000 --cache-read 15000 --output 800"},
	"prices lookup":   {"jevons prices lookup --provider openai --model gpt-4o --at 2024-06-01T00:00:00Z"},
	"prices validate": {"jevons prices validate --catalog negotiated.yaml"},
	"prices unknown":  {"jevons prices unknown < events.jsonl", "jevons prices unknown --clickhouse 127.0.0.1:9000 --database jevons"},
	"ingest": {
		"jevons ingest --brokers 127.0.0.1:9092 --keys /etc/jevons/keys.json --http :4318 --grpc :4317",
		"jevons ingest --keys keys.json --rate 5000 --burst 20000 --tls-cert cert.pem --tls-key key.pem",
	},
	"keys":        {"jevons keys create --tenant acme --keys /etc/jevons/keys.json", "jevons keys revoke --id jvk_1a2b3c4d --keys /etc/jevons/keys.json"},
	"keys create": {"jevons keys create --tenant acme --keys /etc/jevons/keys.json"},
	"keys list":   {"jevons keys list --tenant acme --keys /etc/jevons/keys.json"},
	"keys revoke": {"jevons keys revoke --tenant acme --keys /etc/jevons/keys.json"},
	"import": {
		"jevons import --brokers 127.0.0.1:9092 history.ndjson",
		"jevons import --format openai-usage --tenant acme usage-2025-*.json",
	},
	"report": {
		"jevons report --from 2025-01-01 --to 2025-06-30 --by month",
		"jevons report --tenant acme --from 2025-01-01 --to 2025-06-30 --by week --format html --out report.html",
		"jevons report --tz America/New_York --from 2025-01-01 --to 2025-12-31 --by month --format json",
	},
	"bench report": {"jevons bench report --clickhouse 127.0.0.1:9000 --rows 50000000"},
	"bench ingest": {"jevons bench ingest --brokers 127.0.0.1:9092 --duration 10s --concurrency 32"},
}

// exampleText renders a command's examples for the end of its usage text.
func exampleText(name string) string {
	ex := examples[name]
	if len(ex) == 0 {
		return ""
	}
	title := "Example:"
	if len(ex) > 1 {
		title = "Examples:"
	}
	return "\n" + title + "\n  " + strings.Join(ex, "\n  ") + "\n"
}

// defaultUsage is the usage text of a command without its own: the synopsis,
// the flags and the examples.
func defaultUsage(fs *flag.FlagSet) func() {
	return func() {
		fmt.Fprintf(fs.Output(), "usage: %s [flags]\n\nflags:\n", fs.Name())
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), exampleText(strings.TrimPrefix(fs.Name(), "jevons ")))
	}
}
