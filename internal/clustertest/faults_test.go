package clustertest

import (
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jevonsdev/jevons/ingest/loadgen"
)

// fault is one fault injected while loadgen traffic flows: inject runs
// about two seconds into the traffic and returns once the fault is over
// (the node restarted or resumed).
type fault struct {
	name   string
	inject func(e *env, aggs *[]*aggregator)
}

// cost is what one fault cost, as the README's "Running at scale" records.
type cost struct {
	recovery                     time.Duration // from the end of fault and traffic to lag 0
	sinceFault                   time.Duration // from the fault's start to lag 0
	replayed, duplicates, chErrs int64         // counted by the aggregators alive at the end
}

// Three aggregators in one group on the cluster, traffic with duplicates and
// malformed messages, and five faults one after another: a broker
// SIGKILLed and restarted; a ClickHouse replica SIGKILLed and restarted; a
// whole shard stopped (30 s, JEVONS_CLUSTER_SHARD_STOP for another length);
// an aggregator SIGKILLed and another added; a broker SIGSTOPped for longer
// than the session timeouts, then SIGCONT. After each, usage and tasks equal
// the truth to the token and nano-dollar, the DLQ holds every bad message
// once, and every partition's lag is back to 0. JEVONS_CLUSTER_EVENTS sets
// the events per fault (default 20,000 at 2,500/s).
func TestClusterFaultsKeepTotalsExact(t *testing.T) {
	e := newEnv(t, 6)
	e.migrate()
	events := envInt("JEVONS_CLUSTER_EVENTS", 20000)
	rate := envInt("JEVONS_CLUSTER_RATE", 2500)
	shardStop := 30 * time.Second
	if v := os.Getenv("JEVONS_CLUSTER_SHARD_STOP"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("JEVONS_CLUSTER_SHARD_STOP: %v", err)
		}
		shardStop = d
	}
	aggs := []*aggregator{e.start(), e.start(), e.start()}

	faults := []fault{
		{"broker SIGKILLed, restarted 5 s later", func(e *env, _ *[]*aggregator) {
			e.signal("kafka-2", syscall.SIGKILL)
			time.Sleep(5 * time.Second)
			e.clusterCmd("start", "kafka-2")
		}},
		{"ClickHouse replica SIGKILLed, restarted 5 s later", func(e *env, _ *[]*aggregator) {
			e.signal("ch-1-1", syscall.SIGKILL) // the preferred replica, and every client's first address
			time.Sleep(5 * time.Second)
			e.clusterCmd("start", "ch-1-1")
		}},
		{"whole shard stopped for " + shardStop.String(), func(e *env, _ *[]*aggregator) {
			e.clusterCmd("stop", "ch-2-1")
			e.clusterCmd("stop", "ch-2-2")
			time.Sleep(shardStop)
			e.clusterCmd("start", "ch-2-1")
			e.clusterCmd("start", "ch-2-2")
		}},
		{"aggregator SIGKILLed, another added", func(e *env, aggs *[]*aggregator) {
			(*aggs)[0].kill9()
			time.Sleep(2 * time.Second)
			*aggs = append((*aggs)[1:], e.start())
		}},
		{"broker SIGSTOPped 15 s (beyond the 6 s consumer and 9 s broker session timeouts), then SIGCONT", func(e *env, _ *[]*aggregator) {
			e.signal("kafka-1", syscall.SIGSTOP)
			time.Sleep(15 * time.Second)
			e.signal("kafka-1", syscall.SIGCONT)
		}},
	}

	var truth *loadgen.Truth
	costs := map[string]cost{}
	for i, f := range faults {
		ok := t.Run(f.name, func(t *testing.T) {
			e.t = t
			before := snapshot(aggs)
			wait := e.loadgenAsync("--events", strconv.Itoa(events), "--rate", strconv.Itoa(rate), "--seed", strconv.Itoa(1300+i),
				"--dup-ratio", "0.02", "--bad-ratio", "0.01")
			time.Sleep(2 * time.Second)
			faultStart := time.Now()
			f.inject(e, &aggs)
			faultOver := time.Now()
			got := wait()
			if truth == nil {
				truth = got
			} else {
				truth.Merge(got)
			}
			from := time.Now()
			if faultOver.After(from) {
				from = faultOver
			}
			e.waitCaughtUp(5*time.Minute, truth.Messages)
			caughtUp := time.Now()
			e.verify(truth)
			e.dlqExact(truth.Bad)
			d := deltas(aggs, before)
			c := cost{recovery: caughtUp.Sub(from), sinceFault: caughtUp.Sub(faultStart), replayed: d["replayed"],
				duplicates: d["duplicate"], chErrs: d["clickhouse_errors"]}
			costs[f.name] = c
			t.Logf("%s: lag 0 %.1f s after the fault's start, %.1f s after the fault and traffic ended; %d events (%d duplicates, %d bad sent): exact; replayed %d, duplicates skipped %d (by the aggregators alive at the end), failed ClickHouse inserts retried %d",
				f.name, c.sinceFault.Seconds(), c.recovery.Seconds(), got.Events, got.Duplicates, got.Bad, c.replayed, c.duplicates, c.chErrs)
		})
		if !ok {
			return
		}
	}
	e.t = t
	for _, a := range aggs {
		a.stop()
	}
}

// snapshot reads every live aggregator's counters.
func snapshot(aggs []*aggregator) map[*aggregator]map[string]int64 {
	out := map[*aggregator]map[string]int64{}
	for _, a := range aggs {
		if a.alive() {
			out[a] = a.metrics()
		}
	}
	return out
}

// deltas adds up what the live aggregators counted since before; one
// started since counts from 0, one killed since is lost with its counters.
func deltas(aggs []*aggregator, before map[*aggregator]map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for a, now := range snapshot(aggs) {
		for k, v := range now {
			out[k] += v - before[a][k]
		}
	}
	return out
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
