package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/jevonsdev/jevons/internal/procstat"
)

// benchAggregators are `jevons aggregate` processes in one consumer group,
// each watched for its own CPU time, peak memory and metrics.
type benchAggregators struct {
	cmds    []*exec.Cmd
	peaks   []*procstat.PeakRSS
	addrs   []string // each one's metrics address
	stopped bool
}

// aggSample is what the aggregators have spent and done so far, summed.
type aggSample struct {
	cpuSecs, rowsWritten, dedupBytes, dedupEntries float64
	allocBytes, gcCycles, gcCPUSecs                float64 // the Go runtime's, from its metrics
}

// startAggregators starts b.aggrs aggregators on the bench topic and
// database.
func (b *bench) startAggregators(ctx context.Context) (*benchAggregators, error) {
	fmt.Fprintf(b.stderr, "bench: %d aggregator(s)\n", b.aggrs)
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	a := &benchAggregators{}
	for i := range b.aggrs {
		httpAddr, err := freeLocalAddr()
		if err != nil {
			a.kill()
			return nil, err
		}
		args := []string{"aggregate", "--brokers", strings.Join(b.brokers, ","), "--topic", b.topic, "--group", b.run,
			"--clickhouse", b.chCfg.Addr, "--cluster", b.chCfg.Cluster, "--database", b.run, "--log-level", "warn", "--http", httpAddr}
		if b.cpuProfile != "" {
			prof := b.cpuProfile
			if i > 0 {
				prof = fmt.Sprintf("%s.%d", prof, i)
			}
			args = append(args, "--cpuprofile", prof)
		}
		cmd := exec.CommandContext(ctx, self, args...)
		cmd.Env = append(os.Environ(), childEnv(&b.kcfg, &b.chCfg)...)
		cmd.Stderr = b.stderr
		if err := cmd.Start(); err != nil {
			a.kill()
			return nil, err
		}
		a.cmds, a.addrs = append(a.cmds, cmd), append(a.addrs, httpAddr)
		a.peaks = append(a.peaks, procstat.WatchPeakRSS(cmd.Process.Pid, 100*time.Millisecond))
	}
	return a, nil
}

// sample reads the aggregators' own CPU time (from /proc: not the
// broker's or ClickHouse's) and their metrics, while they still own their
// partitions.
func (a *benchAggregators) sample(ctx context.Context) (aggSample, error) {
	var s aggSample
	var firstErr error
	for i, cmd := range a.cmds {
		s.cpuSecs += procstat.CPUSeconds(cmd.Process.Pid)
		f, err := scrapeSums(ctx, "http://"+a.addrs[i]+"/metrics",
			"jevons_aggregate_dedup_bytes", "jevons_aggregate_dedup_entries", "jevons_aggregate_rows_written_total",
			"go_memstats_alloc_bytes_total", "go_gc_duration_seconds_count", "go_cpu_classes_gc_total_cpu_seconds_total")
		if err != nil && firstErr == nil {
			firstErr = err
		}
		s.dedupBytes += f["jevons_aggregate_dedup_bytes"]
		s.dedupEntries += f["jevons_aggregate_dedup_entries"]
		s.rowsWritten += f["jevons_aggregate_rows_written_total"]
		s.allocBytes += f["go_memstats_alloc_bytes_total"]
		s.gcCycles += f["go_gc_duration_seconds_count"]
		s.gcCPUSecs += f["go_cpu_classes_gc_total_cpu_seconds_total"]
	}
	return s, firstErr
}

// finish ends a timed run whose wait for the rollups returned waitErr:
// it samples the aggregators while they still own their partitions (their
// own CPU time, not the broker's or ClickHouse's), stops them, and returns
// the sample, the peak resident set and the first of the wait's, the
// exit's and the sample's errors.
func (a *benchAggregators) finish(ctx context.Context, waitErr error) (aggSample, int64, error) {
	s, scrapeErr := a.sample(ctx)
	rss, exitErr := a.stop()
	return s, rss, firstErr(waitErr, exitErr, scrapeErr)
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// stop sends SIGTERM, waits for every aggregator and returns the largest
// one's peak resident set (its own VmHWM, not wait4's rusage: see
// internal/procstat).
func (a *benchAggregators) stop() (int64, error) {
	if a.stopped {
		return 0, nil
	}
	a.stopped = true
	for _, cmd := range a.cmds {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	var exitErr error
	for _, cmd := range a.cmds {
		if err := cmd.Wait(); err != nil && exitErr == nil {
			exitErr = fmt.Errorf("aggregator exit: %w", err)
		}
	}
	var rss int64
	for _, p := range a.peaks {
		p.Stop()
		rss = max(rss, p.Bytes())
	}
	return rss, exitErr
}

// kill ends aggregators left running when the bench fails.
func (a *benchAggregators) kill() {
	if a.stopped {
		return
	}
	a.stopped = true
	for _, cmd := range a.cmds {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	for _, p := range a.peaks {
		p.Stop()
	}
}
