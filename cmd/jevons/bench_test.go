package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/jevonsdev/jevons/internal/itest"
)

// A small live bench on the real services, with each kind of dimensions:
// the aggregator (the built binary, as the bench runs it) consumes while
// the bench produces, and the JSON line has every figure and says the
// rollups equal the truth. Speed is not asserted: it is what the bench
// prints.
func TestLiveBenchPrintsItsFiguresAndIsExact(t *testing.T) {
	brokers, ch := itest.Kafka(t), itest.ClickHouse(t)
	bin := filepath.Join(t.TempDir(), "jevons")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, dims := range []string{"realistic", "random"} {
		t.Run(dims, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, "bench", "--live", "--dims", dims, "--events", "20000", "--partitions", "4",
				"--brokers", brokers, "--clickhouse", ch)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("jevons bench --live --dims %s: %v\n%s%s", dims, err, stdout.String(), stderr.String())
			}
			var out map[string]any
			if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
				t.Fatalf("output is not one JSON object: %v\n%s", err, stdout.String())
			}
			if out["exact"] != true || out["mode"] != "live" || out["dims"] != dims || out["events"] != 20000.0 {
				t.Fatalf("want exact, live, dims %s, 20000 events:\n%s", dims, stdout.String())
			}
			for _, k := range []string{"pipeline_eps", "produce_eps", "raw_fetch_eps", "ratio", "cpu_s_per_million",
				"producer_cpu_s_per_million", "rows_per_event", "peak_rss_bytes", "dedup_bytes_per_event", "usage_keys_per_window", "rollup_rows",
				"alloc_bytes_per_event"} {
				if v, ok := out[k].(float64); !ok || v <= 0 {
					t.Errorf("%s: want a positive number, got %v", k, out[k])
				}
			}
			// 20,000 events may well allocate less than the collector's
			// first goal, so a run without a collection is a true zero;
			// the figures come from the same metrics page as
			// alloc_bytes_per_event, which must be positive.
			for _, k := range []string{"gc_cycles_per_million", "gc_cpu_s_per_million"} {
				if v, ok := out[k].(float64); !ok || v < 0 {
					t.Errorf("%s: want a number >= 0, got %v", k, out[k])
				}
			}
		})
	}
}

func TestBenchRefusesUnknownDims(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(t.Context(), []string{"bench", "--live", "--dims", "skewed"}, &stderr, &stderr); code == 0 || !bytes.Contains(stderr.Bytes(), []byte(`--dims "skewed": want random or realistic`)) {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}
