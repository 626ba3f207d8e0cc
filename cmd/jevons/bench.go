package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/ingest/emit"
	"github.com/jevonsdev/jevons/ingest/loadgen"
	"github.com/jevonsdev/jevons/internal/progress"
	"github.com/jevonsdev/jevons/internal/verify"
	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/secure"
	"github.com/jevonsdev/jevons/sink"
)

// bench is one `jevons bench` run: its flags, the fresh topic and database
// it makes, and the services it talks to.
type bench struct {
	brokers                   []string
	chCfg                     sink.Config
	kcfg                      secure.KafkaConfig
	sec                       *secure.Kafka
	events, partitions, aggrs int
	dims, cpuProfile          string
	keep                      bool
	run, topic                string
	conn                      driver.Conn
	log                       *zap.Logger
	stderr                    io.Writer
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "report" {
		return runBenchReport(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "ingest" {
		return runBenchIngest(ctx, args[1:], stdout, stderr)
	}
	fs := newFlagSet("bench", stderr)
	brokers := brokersFlag(fs)
	b := &bench{chCfg: sink.DefaultConfig(), stderr: stderr}
	fs.StringVar(&b.chCfg.Addr, "clickhouse", envOr("JEVONS_CLICKHOUSE", b.chCfg.Addr), "ClickHouse native-protocol address")
	fs.IntVar(&b.events, "events", 1_000_000, "events to load and consume (with --live: to produce while the aggregator consumes)")
	fs.IntVar(&b.partitions, "partitions", 12, "partitions of the fresh topic")
	fs.IntVar(&b.aggrs, "aggregators", 1, "aggregator processes in one consumer group (at most --partitions)")
	live := fs.Bool("live", false, "produce while the aggregators consume: start them, let them catch up on a warm-up, then time producing --events as fast as possible until the rollups hold every event")
	fs.StringVar(&b.dims, "dims", loadgen.DimsRandom, "how each task's dimensions are drawn: random (independently: every tenant uses every app and model, high cardinality) or realistic (each tenant 1-3 apps, each app 1-3 models)")
	clusterFlag(fs, &b.chCfg)
	fs.BoolVar(&b.keep, "keep", false, "keep the bench database and topic")
	fs.StringVar(&b.chCfg.Username, "clickhouse-user", envOr("JEVONS_CLICKHOUSE_USER", b.chCfg.Username), "ClickHouse user (env JEVONS_CLICKHOUSE_USER)")
	chSec, kSec := clickhouseSecurityFlags(fs, &b.chCfg), kafkaSecurityFlags(fs)
	fs.StringVar(&b.cpuProfile, "cpuprofile", "", "write a CPU profile of the aggregator process to this file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := chSec.apply(); err != nil {
		return err
	}
	var err error
	if b.kcfg, err = kSec.config(); err != nil {
		return err
	}
	if b.sec, err = b.kcfg.Load(); err != nil {
		return flagError(err)
	}
	if b.aggrs < 1 || b.aggrs > b.partitions {
		return fmt.Errorf("--aggregators %d: want 1 to --partitions (%d)", b.aggrs, b.partitions)
	}
	if b.events < 1 {
		return fmt.Errorf("--events %d: want at least 1", b.events)
	}
	if b.dims != loadgen.DimsRandom && b.dims != loadgen.DimsRealistic {
		return fmt.Errorf("--dims %q: want random or realistic", b.dims)
	}
	if b.log, err = newLogger("warn", stderr); err != nil {
		return err
	}
	b.run = fmt.Sprintf("bench_%d", time.Now().UnixNano())
	b.topic, b.brokers = "jevons."+b.run, splitList(*brokers)
	b.chCfg.Database = b.run
	if *live {
		return b.runLive(ctx, stdout)
	}
	return b.runBacklog(ctx, stdout)
}

// runBacklog loads N events into a fresh topic, times a raw consumer over
// them, then the aggregators until the rollups hold them all.
func (b *bench) runBacklog(ctx context.Context, stdout io.Writer) error {
	fmt.Fprintf(b.stderr, "bench: loading %d events into %s\n", b.events, b.topic)
	em, err := b.emitter()
	if err != nil {
		return err
	}
	truth, err := loadgen.Run(ctx, b.loadgenConfig(b.events), em, pricing.MustDefault(), time.Time{}, 0, time.Now)
	if err != nil {
		return err
	}
	if err := closeEmitter(ctx, em); err != nil {
		return err
	}
	ends, err := progress.EndOffsets(ctx, b.sec, b.brokers, b.topic)
	if err != nil {
		return err
	}

	// (a) A raw kafka-go group consumer that only fetches and commits.
	fmt.Fprintln(b.stderr, "bench: raw kafka-go consumer")
	rawStart := time.Now()
	if err := rawConsume(ctx, b.sec, b.brokers, b.topic, b.run+"-raw", int(truth.Messages)); err != nil {
		return err
	}
	rawSecs := time.Since(rawStart).Seconds()

	// (b) The aggregators, as their own processes in one group, until every
	// rollup is in ClickHouse.
	if err := b.migrate(ctx); err != nil {
		return err
	}
	defer b.conn.Close()
	pipeStart := time.Now()
	aggs, err := b.startAggregators(ctx)
	if err != nil {
		return err
	}
	defer aggs.kill()
	waitErr := progress.WaitCaughtUp(ctx, b.conn, b.run, b.run, b.topic, ends, 30*time.Minute)
	pipeSecs := time.Since(pipeStart).Seconds()
	end, rss, err := aggs.finish(ctx, waitErr)
	if err != nil {
		return err
	}
	n := float64(truth.Messages)
	out := map[string]any{
		"mode": "backlog", "events": truth.Messages, "raw_fetch_eps": n / rawSecs, "pipeline_eps": n / pipeSecs, "ratio": rawSecs / pipeSecs,
		"cpu_s_per_million": end.cpuSecs / n * 1e6, "rows_per_event": end.rowsWritten / n,
		"alloc_bytes_per_event": end.allocBytes / n, "gc_cycles_per_million": end.gcCycles / n * 1e6,
		"gc_cpu_s_per_million": end.gcCPUSecs / n * 1e6,
	}
	return b.finish(ctx, stdout, truth, rss, end, out)
}

// loadgenConfig is the traffic of the bench: events distinct events with
// the chosen dimensions, no duplicates or bad messages.
func (b *bench) loadgenConfig(events int) loadgen.Config {
	cfg := loadgen.DefaultConfig()
	cfg.Events, cfg.Dims = events, b.dims
	return cfg
}

// emitter produces to the bench topic, creating it if needed; Emit waits
// for room rather than drop an event.
func (b *bench) emitter() (*emit.Emitter, error) {
	cfg := emit.DefaultConfig()
	cfg.Brokers, cfg.Topic, cfg.Partitions, cfg.BlockTimeout, cfg.Security = b.brokers, b.topic, b.partitions, time.Minute, b.kcfg
	return emit.New(cfg, b.log)
}

func closeEmitter(ctx context.Context, em *emit.Emitter) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	return em.Close(cctx)
}

// migrate makes the bench database's schema, once: several aggregator
// processes must not race to create it on a cluster.
func (b *bench) migrate(ctx context.Context) error {
	conn, err := sink.Open(ctx, b.chCfg)
	if err != nil {
		return err
	}
	migs, err := sink.LoadMigrations(schemas.ClickHouse, "clickhouse")
	if err == nil {
		_, err = sink.MigrateCluster(ctx, conn, b.run, b.chCfg.Cluster, migs, b.log)
	}
	if err != nil {
		conn.Close()
		return err
	}
	b.conn = conn
	return nil
}

// finish checks the rollups against the truth, drops what the bench made
// unless --keep, adds the common figures to out and prints it.
func (b *bench) finish(ctx context.Context, stdout io.Writer, truth *loadgen.Truth, rss int64, end aggSample, out map[string]any) error {
	var rows uint64
	if err := b.conn.QueryRow(ctx, "SELECT (SELECT count() FROM "+b.run+".usage_rollup) + (SELECT count() FROM "+b.run+".task_rollup)").Scan(&rows); err != nil {
		return err
	}
	// The cardinality the aggregators faced: distinct usage keys per
	// 1-minute window and source partition.
	var keys float64
	if err := b.conn.QueryRow(ctx, "SELECT count() / uniqExact(src_partition, window_start) FROM "+b.run+".usage_rollup FINAL").Scan(&keys); err != nil {
		return err
	}
	rep, err := verify.Compare(ctx, b.conn, b.run, truth)
	if err != nil {
		return err
	}
	if !b.keep {
		drop := "DROP DATABASE IF EXISTS " + b.run
		if b.chCfg.Cluster != "" {
			drop += " ON CLUSTER " + b.chCfg.Cluster
		}
		_ = b.conn.Exec(ctx, drop)
		client, done := b.sec.Client(b.brokers, 10*time.Second)
		_, _ = client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{b.topic, b.topic + ".dlq"}})
		done()
	}
	out["aggregators"], out["dims"], out["peak_rss_bytes"], out["rollup_rows"] = b.aggrs, b.dims, rss, rows
	out["usage_keys_per_window"], out["exact"] = keys, len(rep.Mismatches) == 0
	// The duplicate set's bytes are its tables' allocated sizes (flat
	// arrays: what the heap holds for it, exactly), per entry held.
	if end.dedupEntries > 0 {
		out["dedup_bytes_per_event"] = end.dedupBytes / end.dedupEntries
	}
	if len(rep.Mismatches) > 0 {
		out["mismatches"] = rep.Mismatches
	}
	if err := json.NewEncoder(stdout).Encode(out); err != nil {
		return err
	}
	if len(rep.Mismatches) > 0 {
		return errors.New("rollups differ from the truth")
	}
	return nil
}

func rawConsume(ctx context.Context, sec *secure.Kafka, brokers []string, topic, group string, n int) error {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, GroupID: group, MinBytes: 1, MaxBytes: 16 << 20,
		MaxWait: 250 * time.Millisecond, QueueCapacity: 1000, StartOffset: kafka.FirstOffset, Dialer: sec.Dialer(10 * time.Second)})
	defer r.Close()
	var batch []kafka.Message
	for i := 0; i < n; i++ {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return fmt.Errorf("raw fetch: %w", err)
		}
		batch = append(batch, m)
		if len(batch) == 10_000 || i == n-1 {
			if err := r.CommitMessages(ctx, batch...); err != nil {
				return fmt.Errorf("raw commit: %w", err)
			}
			batch = batch[:0]
		}
	}
	return nil
}

// freeLocalAddr returns a loopback address with a port free right now.
func freeLocalAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// scrapeSums reads a Prometheus text page and sums each named metric over
// its label sets.
func scrapeSums(ctx context.Context, url string, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read the aggregator's metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read the aggregator's metrics: %w", err)
	}
	sums := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		for _, name := range names {
			rest, ok := strings.CutPrefix(line, name)
			if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
				continue
			}
			f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
			if len(f) > 0 {
				v, err := strconv.ParseFloat(f[0], 64)
				if err == nil {
					sums[name] += v
				}
			}
		}
	}
	return sums, nil
}
