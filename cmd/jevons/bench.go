package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/jevonsdev/jevons/ingest/emit"
	"github.com/jevonsdev/jevons/ingest/loadgen"
	"github.com/jevonsdev/jevons/internal/procstat"
	"github.com/jevonsdev/jevons/internal/progress"
	"github.com/jevonsdev/jevons/internal/verify"
	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/secure"
	"github.com/jevonsdev/jevons/sink"
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "report" {
		return runBenchReport(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "ingest" {
		return runBenchIngest(ctx, args[1:], stdout, stderr)
	}
	fs := newFlagSet("bench", stderr)
	brokers := brokersFlag(fs)
	chCfg := sink.DefaultConfig()
	fs.StringVar(&chCfg.Addr, "clickhouse", envOr("JEVONS_CLICKHOUSE", chCfg.Addr), "ClickHouse native-protocol address")
	events := fs.Int("events", 1_000_000, "events to load and consume")
	partitions := fs.Int("partitions", 12, "partitions of the fresh topic")
	aggregators := fs.Int("aggregators", 1, "aggregator processes in one consumer group (at most --partitions)")
	clusterFlag(fs, &chCfg)
	keep := fs.Bool("keep", false, "keep the bench database and topic")
	fs.StringVar(&chCfg.Username, "clickhouse-user", envOr("JEVONS_CLICKHOUSE_USER", chCfg.Username), "ClickHouse user (env JEVONS_CLICKHOUSE_USER)")
	chSec, kSec := clickhouseSecurityFlags(fs, &chCfg), kafkaSecurityFlags(fs)
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the aggregator process to this file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := chSec.apply(); err != nil {
		return err
	}
	kcfg, err := kSec.config()
	if err != nil {
		return err
	}
	sec, err := kcfg.Load()
	if err != nil {
		return flagError(err)
	}
	if *aggregators < 1 || *aggregators > *partitions {
		return fmt.Errorf("--aggregators %d: want 1 to --partitions (%d)", *aggregators, *partitions)
	}
	log, err := newLogger("warn", stderr)
	if err != nil {
		return err
	}
	run := fmt.Sprintf("bench_%d", time.Now().UnixNano())
	topic, bl := "jevons."+run, splitList(*brokers)

	// Load N events into a fresh topic.
	fmt.Fprintf(stderr, "bench: loading %d events into %s\n", *events, topic)
	ecfg := emit.DefaultConfig()
	ecfg.Brokers, ecfg.Topic, ecfg.Partitions, ecfg.BlockTimeout, ecfg.Security = bl, topic, *partitions, time.Minute, kcfg
	em, err := emit.New(ecfg, log)
	if err != nil {
		return err
	}
	lcfg := loadgen.DefaultConfig()
	lcfg.Events = *events
	truth, err := loadgen.Run(ctx, lcfg, em, pricing.MustDefault(), time.Time{}, 0, time.Now)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := em.Close(cctx); err != nil {
		return err
	}
	ends, err := progress.EndOffsets(ctx, sec, bl, topic)
	if err != nil {
		return err
	}

	// (a) A raw kafka-go group consumer that only fetches and commits.
	fmt.Fprintln(stderr, "bench: raw kafka-go consumer")
	rawStart := time.Now()
	if err := rawConsume(ctx, sec, bl, topic, run+"-raw", int(truth.Messages)); err != nil {
		return err
	}
	rawSecs := time.Since(rawStart).Seconds()

	// (b) The aggregators, as their own processes in one group, until every
	// rollup is in ClickHouse. The schema is made first, once: several
	// processes must not race to create it on a cluster.
	fmt.Fprintf(stderr, "bench: %d aggregator(s)\n", *aggregators)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	chCfg.Database = run
	conn, err := sink.Open(ctx, chCfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	migs, err := sink.LoadMigrations(schemas.ClickHouse, "clickhouse")
	if err != nil {
		return err
	}
	if _, err := sink.MigrateCluster(ctx, conn, run, chCfg.Cluster, migs, log); err != nil {
		return err
	}
	var cmds []*exec.Cmd
	var peaks []*procstat.PeakRSS
	pipeStart := time.Now()
	var httpAddrs []string
	for i := range *aggregators {
		httpAddr, err := freeLocalAddr()
		if err != nil {
			return err
		}
		httpAddrs = append(httpAddrs, httpAddr)
		aggArgs := []string{"aggregate", "--brokers", strings.Join(bl, ","), "--topic", topic, "--group", run,
			"--clickhouse", chCfg.Addr, "--cluster", chCfg.Cluster, "--database", run, "--log-level", "warn", "--http", httpAddr}
		if *cpuProfile != "" {
			prof := *cpuProfile
			if i > 0 {
				prof = fmt.Sprintf("%s.%d", prof, i)
			}
			aggArgs = append(aggArgs, "--cpuprofile", prof)
		}
		cmd := exec.CommandContext(ctx, self, aggArgs...)
		cmd.Env = append(os.Environ(), childEnv(&kcfg, &chCfg)...)
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		cmds = append(cmds, cmd)
		peak := procstat.WatchPeakRSS(cmd.Process.Pid, 100*time.Millisecond)
		defer peak.Stop()
		peaks = append(peaks, peak)
	}
	waitErr := progress.WaitCaughtUp(ctx, conn, run, run, topic, ends, 30*time.Minute)
	pipeSecs := time.Since(pipeStart).Seconds()
	// Read before SIGTERM: the aggregators' own CPU time (not the broker's
	// or ClickHouse's) and their figures while they still own partitions.
	var cpuSecs float64
	figures := map[string]float64{}
	var scrapeErr error
	for i, cmd := range cmds {
		cpuSecs += procstat.CPUSeconds(cmd.Process.Pid)
		f, err := scrapeSums(ctx, "http://"+httpAddrs[i]+"/metrics",
			"jevons_aggregate_dedup_bytes", "jevons_aggregate_dedup_entries", "jevons_aggregate_rows_written_total")
		if err != nil && scrapeErr == nil {
			scrapeErr = err
		}
		for k, v := range f {
			figures[k] += v
		}
	}
	for _, cmd := range cmds {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	var exitErr error
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil && exitErr == nil {
			exitErr = err
		}
	}
	if waitErr != nil {
		return waitErr
	}
	if exitErr != nil {
		return fmt.Errorf("aggregator exit: %w", exitErr)
	}
	var rss int64 // the largest aggregator's own VmHWM, not wait4's rusage (see internal/procstat)
	for _, p := range peaks {
		p.Stop()
		rss = max(rss, p.Bytes())
	}
	var rows uint64
	if err := conn.QueryRow(ctx, "SELECT (SELECT count() FROM "+run+".usage_rollup) + (SELECT count() FROM "+run+".task_rollup)").Scan(&rows); err != nil {
		return err
	}
	rep, err := verify.Compare(ctx, conn, run, truth)
	if err != nil {
		return err
	}
	if !*keep {
		drop := "DROP DATABASE IF EXISTS " + run
		if chCfg.Cluster != "" {
			drop += " ON CLUSTER " + chCfg.Cluster
		}
		_ = conn.Exec(ctx, drop)
		client, done := sec.Client(bl, 10*time.Second)
		_, _ = client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic, topic + ".dlq"}})
		done()
	}
	if scrapeErr != nil {
		return scrapeErr
	}
	n := float64(truth.Messages)
	out := map[string]any{
		"events": truth.Messages, "aggregators": *aggregators, "raw_fetch_eps": n / rawSecs, "pipeline_eps": n / pipeSecs,
		"ratio": (n / pipeSecs) / (n / rawSecs), "peak_rss_bytes": rss, "rollup_rows": rows,
		"cpu_s_per_million": cpuSecs / n * 1e6, "rows_per_event": figures["jevons_aggregate_rows_written_total"] / n,
		"exact": len(rep.Mismatches) == 0,
	}
	// The duplicate set's bytes are its tables' allocated sizes (flat
	// arrays: what the heap holds for it, exactly), per entry held.
	if e := figures["jevons_aggregate_dedup_entries"]; e > 0 {
		out["dedup_bytes_per_event"] = figures["jevons_aggregate_dedup_bytes"] / e
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
