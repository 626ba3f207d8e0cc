package aggregate_test

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// 1. A clean run: the usage and tasks views equal the truth, and SIGTERM
// exits cleanly.
func TestViewsEqualTruthAfter200kEvents(t *testing.T) {
	e := newEnv(t, 8, false)
	truth := e.loadgen("--events", "200000", "--seed", "11")
	a := e.start()
	e.waitCaughtUp(3 * time.Minute)
	e.verify(truth)
	out := a.outcomes()
	if out["aggregated"] != truth.Events || out["duplicate"] != 0 || out["dead_lettered"] != 0 {
		t.Fatalf("outcomes %v for %d events", out, truth.Events)
	}
	a.stop()
}

// 2. kill -9 at random moments during a 500,000-event run, restarting each
// time: totals stay exact.
func TestKillNineRepeatedlyKeepsTotalsExact(t *testing.T) {
	e := newEnv(t, 8, false)
	wait := e.loadgenAsync("--events", "500000", "--rate", "25000", "--seed", "22", "--dup-ratio", "0.01")
	rng := rand.New(rand.NewPCG(22, 22))
	kills := 0
	for ; kills < 5; kills++ {
		a := e.start()
		time.Sleep(time.Duration(1500+rng.IntN(3000)) * time.Millisecond)
		a.kill9()
	}
	a := e.start()
	truth := wait()
	e.waitCaughtUp(4 * time.Minute)
	e.verify(truth)
	a.stop()
	t.Logf("%d kills during %d events: exact", kills, truth.Events)
}

// 3. ClickHouse stopped for 30 seconds mid-run: no crash, exact totals,
// bounded memory.
func TestClickHouseOutageKeepsTotalsExactAndMemoryBounded(t *testing.T) {
	e := newEnv(t, 8, true)
	services := servicesScript()
	wait := e.loadgenAsync("--events", "500000", "--rate", "12000", "--seed", "33")
	a := e.start()
	time.Sleep(5 * time.Second)
	if out, err := exec.Command(services, "down", "clickhouse").CombinedOutput(); err != nil {
		t.Fatalf("stop clickhouse: %v\n%s", err, out)
	}
	time.Sleep(30 * time.Second)
	if out, err := exec.Command(services, "up", "clickhouse").CombinedOutput(); err != nil {
		t.Fatalf("start clickhouse: %v\n%s", err, out)
	}
	truth := wait()
	e.reconnect()
	e.waitCaughtUp(4 * time.Minute)
	e.verify(truth)
	if a.cmd.ProcessState != nil {
		t.Fatal("aggregator exited during the outage")
	}
	rss := a.stop()
	t.Logf("peak RSS %d MiB over %d events with a 30 s ClickHouse outage", rss>>20, truth.Events)
	if rss >= 512<<20 {
		t.Fatalf("peak RSS %d MiB, want under 512 MiB", rss>>20)
	}
}

// 4. Malformed messages and duplicates: the DLQ holds exactly the bad ones,
// duplicates count once.
func TestDeadLettersAndDuplicates(t *testing.T) {
	e := newEnv(t, 6, false)
	truth := e.loadgen("--events", "150000", "--seed", "44", "--bad-ratio", "0.01", "--dup-ratio", "0.03")
	if truth.Bad == 0 || truth.Duplicates == 0 {
		t.Fatalf("traffic without faults: %+v", truth)
	}
	a := e.start()
	e.waitCaughtUp(3 * time.Minute)
	e.verify(truth)
	out := a.outcomes()
	if out["dead_lettered"] != truth.Bad || out["duplicate"] != truth.Duplicates || out["aggregated"] != truth.Events {
		t.Fatalf("outcomes %v, truth bad %d duplicates %d events %d", out, truth.Bad, truth.Duplicates, truth.Events)
	}
	if n := e.dlqMessages(); n != truth.Bad {
		t.Fatalf("DLQ holds %d messages, want %d", n, truth.Bad)
	}
	reasons := e.dlqReasons()
	for _, r := range reasons {
		if !strings.Contains(r, "malformed JSON") && !strings.Contains(r, "invalid event") {
			t.Fatalf("dead letter without a clear reason: %q", r)
		}
	}
	a.stop()
}

// 5. Two aggregators in one group, one killed mid-run: the survivor takes
// its partitions over and totals stay exact.
func TestTwoAggregatorsOneKilled(t *testing.T) {
	e := newEnv(t, 8, false)
	wait := e.loadgenAsync("--events", "300000", "--rate", "25000", "--seed", "55")
	a := e.start()
	b := e.start()
	time.Sleep(6 * time.Second)
	a.kill9()
	truth := wait()
	e.waitCaughtUp(4 * time.Minute)
	e.verify(truth)
	b.stop()
}

// 6. Late events: inside the lateness (same window), beyond it inside the
// correction horizon (corrections), beyond the horizon (dead letters).
func TestLateEvents(t *testing.T) {
	e := newEnv(t, 4, false)
	wait := e.loadgenAsync("--events", "120000", "--rate", "8000", "--seed", "66",
		"--late-ratio", "0.05", "--late-by", "10m", "--too-old-ratio", "0.005")
	a := e.start("--flush-interval", "1s")
	truth := wait()
	e.waitCaughtUp(3 * time.Minute)
	e.verify(truth)
	out := a.outcomes()
	if out["dead_lettered"] != truth.TooOld || e.dlqMessages() != truth.TooOld {
		t.Fatalf("dead letters %d (DLQ %d), want the %d too-old events", out["dead_lettered"], e.dlqMessages(), truth.TooOld)
	}
	if out["late_corrected"] == 0 || out["late_corrected"] >= truth.Late {
		t.Fatalf("late corrections %d of %d late events: want some inside the lateness and some beyond", out["late_corrected"], truth.Late)
	}
	if out["aggregated"]+out["late_corrected"] != truth.Events {
		t.Fatalf("outcomes %v, truth events %d", out, truth.Events)
	}
	for _, r := range e.dlqReasons() {
		if !strings.Contains(r, "older than the correction horizon") {
			t.Fatalf("dead letter reason %q", r)
		}
	}
	a.stop()
}

// The broker restarts mid-run: the aggregator reconnects by itself and the
// totals stay exact.
func TestKafkaRestartReconnects(t *testing.T) {
	e := newEnv(t, 6, true)
	truth := e.loadgen("--events", "150000", "--seed", "77")
	a := e.start()
	time.Sleep(2 * time.Second)
	services := servicesScript()
	if out, err := exec.Command(services, "down", "kafka").CombinedOutput(); err != nil {
		t.Fatalf("stop kafka: %v\n%s", err, out)
	}
	time.Sleep(5 * time.Second)
	if out, err := exec.Command(services, "up", "kafka").CombinedOutput(); err != nil {
		t.Fatalf("start kafka: %v\n%s", err, out)
	}
	more := e.loadgen("--events", "50000", "--seed", "78")
	e.waitCaughtUp(4 * time.Minute)
	if a.cmd.ProcessState != nil {
		t.Fatal("aggregator exited while the broker was down")
	}
	e.verify(merge(truth, more))
	a.stop()
}

func servicesScript() string {
	if s := os.Getenv("JEVONS_SERVICES_SCRIPT"); s != "" {
		return s
	}
	return "../deploy/local/services"
}
