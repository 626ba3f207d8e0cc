package aggregate_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/jevonsdev/jevons/internal/progress"
	"github.com/jevonsdev/jevons/internal/topics"
	"github.com/jevonsdev/jevons/schemas"
)

// metric sums every series of a metric on /metrics (counters, gauges).
func (a *aggregator) metric(name string) float64 {
	a.e.t.Helper()
	resp, err := http.Get("http://" + a.http + "/metrics")
	if err != nil {
		a.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			a.e.t.Fatalf("metric line %q: %v", line, err)
		}
		sum += f
	}
	return sum
}

// maxMetric returns the largest series of a metric.
func (a *aggregator) maxMetric(name string) float64 {
	a.e.t.Helper()
	resp, err := http.Get("http://" + a.http + "/metrics")
	if err != nil {
		a.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	best := -1.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+"{") {
			f, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			best = max(best, f)
		}
	}
	return best
}

// write produces messages to the env's topic directly, message times as given.
func (e *env) write(msgs ...kafka.Message) {
	e.t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(e.kafka), Topic: e.topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		Transport: &kafka.Transport{DialTimeout: 10 * time.Second}}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		e.t.Fatalf("write %d messages: %v", len(msgs), err)
	}
}

// A producer a day ahead, and one 50 minutes ahead (inside Kafka's default
// one-hour bound on producer timestamps), before normal traffic: the broker
// rejects both, so the partition's clock does not jump, no normal event
// takes the late path and the duplicate set stays bounded by the traffic.
func TestSkewedProducerDoesNotMoveTheClock(t *testing.T) {
	e := newEnv(t, 2, false)
	now := time.Now().UTC()
	w := &kafka.Writer{Addr: kafka.TCP(e.kafka), Topic: e.topic, RequiredAcks: kafka.RequireAll, MaxAttempts: 1,
		Transport: &kafka.Transport{DialTimeout: 10 * time.Second}}
	defer w.Close()
	for i, ahead := range []time.Duration{24 * time.Hour, 50 * time.Minute} {
		ev := schemas.Event{EventID: fmt.Sprintf("skewed-%d", i), Time: now.Add(ahead), Tenant: "skewed", Provider: "openai", Model: "gpt-4o",
			Usage: schemas.Usage{InputTokens: 10, OutputTokens: 1}}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := w.WriteMessages(ctx, kafka.Message{Value: schemas.AppendJSON(nil, &ev), Time: ev.Time})
		cancel()
		if err == nil || !strings.Contains(err.Error(), "Invalid Timestamp") && !strings.Contains(err.Error(), "timestamp") {
			t.Fatalf("a message %v ahead: write error %v, want the broker to reject its timestamp", ahead, err)
		}
	}
	truth := e.loadgen("--events", "20000", "--seed", "91")
	a := e.start()
	e.waitCaughtUp(2 * time.Minute)
	e.verify(truth)
	out := a.outcomes()
	if out["late_corrected"] != 0 || out["dead_lettered"] != 0 || out["aggregated"] != truth.Events {
		t.Fatalf("outcomes %v: want every one of %d events aggregated on time", out, truth.Events)
	}
	if clock := a.maxMetric("jevons_aggregate_event_clock_seconds"); clock > float64(time.Now().Add(10*time.Minute).Unix()) || clock < float64(now.Add(-time.Hour).Unix()) {
		t.Fatalf("event clock %s, wall clock %s", time.Unix(int64(clock), 0).UTC(), now)
	}
	if n := a.metric("jevons_aggregate_dedup_entries"); n > float64(truth.Events) {
		t.Fatalf("duplicate set holds %.0f entries for %d events", n, truth.Events)
	}
	if allowance := a.metric("jevons_aggregate_producer_clock_allowance_seconds"); allowance != 300 {
		t.Fatalf("producer clock allowance %v s, want the topic's 300", allowance)
	}
	a.stop()
}

// backfillEvents sizes the backfill test: 100,000 events in CI (a few
// minutes on a loaded 2-core machine), more with JEVONS_BACKFILL_EVENTS
// (the full test is 1,000,000).
func backfillEvents(t *testing.T) int {
	if s := os.Getenv("JEVONS_BACKFILL_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("JEVONS_BACKFILL_EVENTS=%q: want a positive count", s)
		}
		return n
	}
	return 100_000
}

// A backfill: events spread over 30 days arriving in random order, with
// retries. Peak RSS stays under the configured memory limit (256 MiB, with
// at most 2,000 changed states per partition between flushes and 50,000
// duplicate-set entries per partition: the clock stalls in a backfill, so
// the set fills to its maximum) and the totals (minute and day views,
// tasks) are exact.
func TestBackfillOf30DaysShuffled(t *testing.T) {
	e := newEnv(t, 8, false)
	n := backfillEvents(t)
	truth := e.loadgen("--events", strconv.Itoa(n), "--seed", "101", "--spread", "720h", "--dup-ratio", "0.01")
	const limitMiB = 256
	start := time.Now()
	args := []string{"--memory-limit-mib", strconv.Itoa(limitMiB), "--max-dirty", "2000", "--dedup-max-entries", "50000"}
	if f := os.Getenv("JEVONS_BACKFILL_CPUPROFILE"); f != "" { // where the aggregator's time goes
		args = append(args, "--cpuprofile", f)
	}
	a := e.start(args...)
	e.waitCaughtUp(time.Duration(n/250+120) * time.Second) // a bound for a loaded machine, not a speed requirement
	wall := time.Since(start)
	e.verify(truth)
	out := a.outcomes()
	if out["duplicate"] != truth.Duplicates || out["aggregated"]+out["late_corrected"] != truth.Events {
		t.Fatalf("outcomes %v, truth %d events %d duplicates", out, truth.Events, truth.Duplicates)
	}
	rss := a.stop()
	t.Logf("backfill of %d events over 30 days: caught up in %v (%.0f events/s), peak RSS %d MiB (limit %d MiB)",
		truth.Events, wall.Round(time.Second), float64(truth.Events)/wall.Seconds(), rss>>20, limitMiB)
	if rss >= limitMiB<<20 {
		t.Fatalf("peak RSS %d MiB, configured limit %d MiB", rss>>20, limitMiB)
	}
}

// dlqBySource counts the dead letters per source (partition/offset).
func (e *env) dlqBySource() map[string]int {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ends, err := progress.EndOffsets(ctx, nil, []string{e.kafka}, e.topic+".dlq")
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int{}
	for p, end := range ends {
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{e.kafka}, Topic: e.topic + ".dlq", Partition: p, MaxWait: 100 * time.Millisecond})
		for off := int64(0); off < end; {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				e.t.Fatal(err)
			}
			off = m.Offset + 1
			var part, src string
			for _, h := range m.Headers {
				switch h.Key {
				case "jevons-src-partition":
					part = string(h.Value)
				case "jevons-src-offset":
					src = string(h.Value)
				}
			}
			out[part+"/"+src]++
		}
		r.Close()
	}
	return out
}

// dlqExact requires the DLQ to hold every bad message exactly once.
func (e *env) dlqExact(want int64) {
	e.t.Helper()
	got := e.dlqBySource()
	for k, n := range got {
		if n != 1 {
			e.t.Fatalf("dead letter %s written %d times", k, n)
		}
	}
	if int64(len(got)) != want {
		e.t.Fatalf("DLQ holds %d distinct dead letters, want %d", len(got), want)
	}
}

// kill -9 at random moments while malformed messages arrive: every bad
// message is in the DLQ exactly once, and the totals are exact.
func TestKillNineWhileSendingBadMessagesKeepsTheDLQExact(t *testing.T) {
	e := newEnv(t, 4, false)
	wait := e.loadgenAsync("--events", "100000", "--rate", "12000", "--seed", "121", "--bad-ratio", "0.03", "--dup-ratio", "0.01")
	rng := rand.New(rand.NewPCG(121, 121))
	for range 4 {
		a := e.start("--flush-interval", "300ms")
		time.Sleep(time.Duration(1500+rng.IntN(2500)) * time.Millisecond)
		a.kill9()
	}
	a := e.start()
	truth := wait()
	e.waitCaughtUp(3 * time.Minute)
	e.verify(truth)
	e.dlqExact(truth.Bad)
	a.stop()
}

// A new owner reads the DLQ's tail when it takes a partition, but the
// previous owner may still be making its last flush durable (it flushes
// on losing the partition, and a broker or ClickHouse outage can stretch
// that past the rebalance), so its dead letters can land after that read.
// Here the previous owner's dead letter of the next offset lands after the
// owner caught up; the owner then dead-letters the same message, and reads
// the DLQ back before that first write: the DLQ holds it once.
func TestADeadLetterThatLandsAfterTheTakeoverIsNotWrittenAgain(t *testing.T) {
	e := newEnv(t, 1, false)
	truth := e.loadgen("--events", "2000", "--seed", "151")
	a := e.start()
	e.waitCaughtUp(2 * time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ends, err := progress.EndOffsets(ctx, nil, []string{e.kafka}, e.topic)
	if err != nil {
		t.Fatal(err)
	}
	bad := kafka.Message{Value: []byte("{not json")}
	late := kafka.Message{Value: bad.Value, Headers: []kafka.Header{{Key: "jevons-reason", Value: []byte("malformed JSON")},
		{Key: "jevons-src-topic", Value: []byte(e.topic)}, {Key: "jevons-src-partition", Value: []byte("0")},
		{Key: "jevons-src-offset", Value: []byte(strconv.FormatInt(ends[0], 10))}}}
	w := &kafka.Writer{Addr: kafka.TCP(e.kafka), Topic: e.topic + ".dlq", RequiredAcks: kafka.RequireAll,
		Transport: &kafka.Transport{DialTimeout: 10 * time.Second}} // the DLQ has one partition, as the topic
	err = w.WriteMessages(ctx, late)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	e.write(bad)
	if after, err := progress.EndOffsets(ctx, nil, []string{e.kafka}, e.topic); err != nil || after[0] != ends[0]+1 {
		t.Fatalf("the bad message is not at offset %d: end offsets %v, %v", ends[0], after, err)
	}
	e.waitCaughtUp(2 * time.Minute)
	if n := a.outcomes()["dead_lettered"]; n != 1 {
		t.Fatalf("%d messages dead-lettered, want the bad one", n)
	}
	e.verify(truth)
	e.dlqExact(1)
	a.stop()
}

// Two aggregators rebalance while ClickHouse is frozen (SIGSTOP) for longer
// than the session timeout: one leaves (SIGTERM) while the server sleeps,
// its final flush waits for the server, the rebalance waits for the final
// flushes, and afterwards the totals and the DLQ are exact.
func TestRebalanceWhileClickHouseSleeps(t *testing.T) {
	e := newEnv(t, 6, true)
	pidFile := filepath.Join(servicesDir(), "clickhouse", "pid")
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("clickhouse pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	wait := e.loadgenAsync("--events", "120000", "--rate", "10000", "--seed", "131", "--bad-ratio", "0.01", "--dup-ratio", "0.01")
	a := e.start()
	b := e.start()
	time.Sleep(6 * time.Second)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	defer resume()
	_ = b.cmd.Process.Signal(syscall.SIGTERM) // b leaves: the group rebalances while nobody can flush
	time.Sleep(15 * time.Second)              // the session timeout is 6 s
	resume()
	b.stop()
	truth := wait()
	e.reconnect()
	e.waitCaughtUp(3 * time.Minute)
	e.verify(truth)
	e.dlqExact(truth.Bad)
	a.stop()
}

func servicesDir() string {
	if d := os.Getenv("JEVONS_SERVICES_DIR"); d != "" {
		return d
	}
	return "/tmp/jevons-services"
}

// A dead letter larger than the broker accepts (3 MiB on a topic that takes
// it) is truncated with headers saying so; the partition does not stall.
func TestOversizedBadMessageDoesNotStallThePartition(t *testing.T) {
	e := newEnv(t, 1, false, kafka.ConfigEntry{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(8 << 20)})
	w := &kafka.Writer{Addr: kafka.TCP(e.kafka), Topic: e.topic, RequiredAcks: kafka.RequireAll, BatchBytes: 8 << 20,
		Transport: &kafka.Transport{DialTimeout: 10 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := w.WriteMessages(ctx, kafka.Message{Value: append([]byte(`{"event_id":"`), make([]byte, 3<<20)...)})
	cancel()
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	truth := e.loadgen("--events", "5000", "--seed", "141")
	a := e.start()
	e.waitCaughtUp(2 * time.Minute)
	e.verify(truth)
	e.dlqExact(1)
	a.stop()
}

// exited waits for the process to end by itself and returns its error.
func (a *aggregator) exited(timeout time.Duration) error {
	a.e.t.Helper()
	done := make(chan error, 1)
	go func() { done <- a.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		a.e.t.Fatalf("aggregator still running after %v", timeout)
		return nil
	}
}

// The group's checkpoints are missing (a new database) while Kafka has its
// committed offsets: the aggregator refuses to start with a message naming
// --reset-from, and --reset-from=earliest then recounts exactly.
func TestMissingCheckpointRefusesToStart(t *testing.T) {
	e := newEnv(t, 2, false)
	truth := e.loadgen("--events", "20000", "--seed", "151", "--dup-ratio", "0.02")
	a := e.start()
	e.waitCaughtUp(2 * time.Minute)
	a.stop()
	old := e.db
	t.Cleanup(func() { _ = e.conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+old) })
	e.db = old + "_new"
	b := e.start()
	if err := b.exited(90 * time.Second); err == nil {
		t.Fatal("the aggregator started without its checkpoints")
	}
	log, _ := os.ReadFile(b.log)
	if !strings.Contains(string(log), "--reset-from=earliest") {
		t.Fatalf("exit without a message naming --reset-from:\n%s", tail(log, 2048))
	}
	c := e.start("--reset-from", "earliest")
	e.waitCaughtUp(2 * time.Minute)
	e.verify(truth)
	c.stop()
}

// Partitions added to the input topic are detected and shown on /metrics
// (retries of events sent before the change may count twice for a dedup
// horizon; README). The totals of the traffic before and after stay exact.
func TestPartitionCountChangeIsReported(t *testing.T) {
	e := newEnv(t, 2, false)
	truth := e.loadgen("--events", "10000", "--seed", "161")
	a := e.start()
	e.waitCaughtUp(2 * time.Minute)
	client, done := topics.NewClient(nil, []string{e.kafka})
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	resp, err := client.CreatePartitions(ctx, &kafka.CreatePartitionsRequest{Topics: []kafka.TopicPartitionsConfig{{Name: e.topic, Count: 4}}})
	cancel()
	if err == nil && len(resp.Errors) > 0 {
		err = resp.Errors[e.topic]
	}
	if err != nil {
		t.Fatalf("add partitions: %v", err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for a.metric("jevons_aggregate_partition_count_changes_total") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the partition count change was not reported within 90 s")
		}
		time.Sleep(time.Second)
	}
	if n := a.metric("jevons_aggregate_input_partitions"); n != 4 {
		t.Fatalf("input partitions %v, want 4", n)
	}
	more := e.loadgen("--events", "10000", "--seed", "162")
	e.waitCaughtUp(2 * time.Minute)
	e.verify(merge(truth, more))
	a.stop()
}

// A rolling deploy of a new price catalog: the partitions' next owner
// prices with another catalog. It logs both fingerprints and the offset
// from which it prices, counts each partition in
// jevons_aggregate_catalog_changes_total, and its checkpoints record the
// new catalog from that offset. The totals stay exact (the new catalog
// adds a model the traffic does not use).
func TestCatalogChangeIsLoggedCountedAndCheckpointed(t *testing.T) {
	e := newEnv(t, 2, false)
	truth := e.loadgen("--events", "6000", "--seed", "171")
	a := e.start()
	e.waitCaughtUp(2 * time.Minute)
	before := e.checkpoints()
	a.stop()
	overlay := filepath.Join(e.logs, "acme.yaml")
	if err := os.WriteFile(overlay, []byte("- id: acme\n  provider_match: {contains: acme}\n  models:\n    - id: acme-large\n      match: {starts_with: acme-large}\n      prices: {input_mtok: 1, output_mtok: 4}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	more := e.loadgen("--events", "6000", "--seed", "172")
	b := e.start("--catalog", overlay)
	e.waitCaughtUp(2 * time.Minute)
	e.verify(merge(truth, more))
	if n := b.metric("jevons_aggregate_catalog_changes_total"); n != 2 {
		t.Fatalf("catalog changes %v, want one per partition (2)", n)
	}
	fp := b.catalogFingerprint()
	for part, c := range e.checkpoints() {
		if c.Catalog != fp || c.CatalogFrom != before[part].FlushedThrough || before[part].Catalog == fp || before[part].Catalog == "" {
			t.Fatalf("partition %d: checkpoint records catalog %q from %d; before the deploy %q through %d; new catalog %q",
				part, c.Catalog, c.CatalogFrom, before[part].Catalog, before[part].FlushedThrough, fp)
		}
	}
	b.stop()
	log, _ := os.ReadFile(b.log)
	if n := strings.Count(string(log), `"previous_catalog"`); n != 2 || !strings.Contains(string(log), `"from_offset"`) {
		t.Fatalf("%d catalog change reports in the log, want 2 with the offset:\n%s", n, tail(log, 4096))
	}
}

// checkpoints reads the newest checkpoint of each partition of the env's group.
func (e *env) checkpoints() map[uint32]schemas.Checkpoint {
	e.t.Helper()
	out := map[uint32]schemas.Checkpoint{}
	rows, err := e.conn.Query(context.Background(), "SELECT partition, flushed_through, catalog, catalog_from FROM "+e.db+
		".consumer_checkpoints FINAL WHERE consumer_group = ? AND topic = ?", e.group, e.topic)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var c schemas.Checkpoint
		if err := rows.Scan(&c.Partition, &c.FlushedThrough, &c.Catalog, &c.CatalogFrom); err != nil {
			e.t.Fatal(err)
		}
		out[c.Partition] = c
	}
	return out
}

// catalogFingerprint reads the process's catalog fingerprint from /metrics.
func (a *aggregator) catalogFingerprint() string {
	a.e.t.Helper()
	resp, err := http.Get("http://" + a.http + "/metrics")
	if err != nil {
		a.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), `jevons_aggregate_catalog_info{fingerprint="`); ok {
			fp, _, _ := strings.Cut(rest, `"`)
			return fp
		}
	}
	a.e.t.Fatal("no jevons_aggregate_catalog_info on /metrics")
	return ""
}

// With a memory limit, the collector of `jevons aggregate` runs as the heap
// nears the limit instead of each time the heap doubles; without a limit,
// with GOGC or GOMEMLIMIT set, or with a limit above the memory the process
// can have (which it would grow into until killed), it runs as Go's
// default has it.
func TestTheCollectorRunsAtTheMemoryLimit(t *testing.T) {
	e := newEnv(t, 1, false)
	limit := float64(512<<20 - 32<<20) // the default, less the room kept for the binary (at most 32 MiB)
	const huge = 1 << 30               // MiB: a PiB, above any machine's memory here
	for _, tc := range []struct {
		name, gogc, gomemlimit string
		args                   []string
		percent, memory        float64
		warns                  bool
	}{
		{"the default limit", "", "", nil, -1, limit, false},
		{"no limit", "", "", []string{"--memory-limit-mib", "0"}, 100, math.MaxInt64, false},
		{"GOGC set", "200", "", nil, 200, limit, false},
		{"GOMEMLIMIT set", "", "300MiB", nil, 100, 300 << 20, false},
		{"a limit above the memory there is", "", "", []string{"--memory-limit-mib", strconv.Itoa(huge)}, 100, huge<<20 - 32<<20, true},
	} {
		t.Setenv("GOGC", tc.gogc)
		t.Setenv("GOMEMLIMIT", tc.gomemlimit)
		a := e.start(tc.args...)
		deadline := time.Now().Add(30 * time.Second)
		for !a.serves("go_gc_gogc_percent") {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no go_gc_gogc_percent on /metrics within 30s", tc.name)
			}
			time.Sleep(100 * time.Millisecond)
		}
		p, m := a.metric("go_gc_gogc_percent"), a.metric("go_gc_gomemlimit_bytes")
		if p >= 1<<63 { // the runtime's metric is unsigned: off is -1 as a uint64
			p = -1
		}
		if p != tc.percent || m != tc.memory {
			t.Errorf("%s: GOGC %v and memory limit %v, want %v and %v", tc.name, p, m, tc.percent, tc.memory)
		}
		a.stop()
		log, err := os.ReadFile(a.log)
		if err != nil {
			t.Fatal(err)
		}
		if warned := strings.Contains(string(log), "above the memory this process can have"); warned != tc.warns {
			t.Errorf("%s: warned %v, want %v:\n%s", tc.name, warned, tc.warns, tail(log, 2048))
		}
	}
}

// serves reports whether /metrics answers with the metric.
func (a *aggregator) serves(name string) bool {
	resp, err := http.Get("http://" + a.http + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return err == nil && strings.Contains(string(body), "\n"+name+" ")
}
