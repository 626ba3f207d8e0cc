package aggregate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/sink"
)

// memStore keeps rows as a ReplacingMergeTree(version) read with FINAL
// would: the highest version of each key. It stands in for ClickHouse only
// in this unit test of the replay logic; the integration tests use the real
// server.
type memStore struct {
	usage map[string]map[usageKey]schemas.UsageRow // by table
	tasks map[taskKey]schemas.TaskRow
	ckpt  *schemas.Checkpoint
	dlq   map[int64]int // dead letters written per source offset

	loadedUsage    int            // keys asked for by late loads
	loadedBy       map[string]int // the same, by table
	loadCalls      map[string]int // key loads (queries), by table
	scans          int            // usage key scans (building the stored-keys filter)
	wholeTaskLoads int            // task loads by window, not by key
	rows           int            // rows written, rewrites included
}

// activePartition is partition 0 with the default configuration and
// catalog, started fresh and processing.
func activePartition() *partition {
	cfg := DefaultConfig()
	p := newPartition(0, &cfg, pricing.MustDefault())
	p.startFresh(0)
	p.active = true
	return p
}

func newMemStore() *memStore {
	return &memStore{usage: map[string]map[usageKey]schemas.UsageRow{sink.UsageTable: {}, sink.UsageDailyTable: {}, sink.UsageMonthlyTable: {}}, tasks: map[taskKey]schemas.TaskRow{}, dlq: map[int64]int{}}
}

func (m *memStore) LoadUsage(_ context.Context, table string, _ uint32, from int64, keys []sink.UsageKey) ([]schemas.UsageRow, error) {
	var out []schemas.UsageRow
	m.loadedUsage += len(keys)
	if m.loadedBy == nil {
		m.loadedBy = map[string]int{}
	}
	m.loadedBy[table] += len(keys)
	if len(keys) > 0 {
		if m.loadCalls == nil {
			m.loadCalls = map[string]int{}
		}
		m.loadCalls[table]++
		for _, k := range keys {
			if r, ok := m.usage[table][usageKey{k.Window, k.Tenant, k.App, k.TaskType, k.Provider, k.Model, k.Operation, k.Status}]; ok {
				out = append(out, r)
			}
		}
		return out, nil
	}
	for k, r := range m.usage[table] {
		if k.window >= from {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memStore) LoadTasks(_ context.Context, _ uint32, from int64, keys []sink.TaskKey) ([]schemas.TaskRow, error) {
	var out []schemas.TaskRow
	if len(keys) > 0 {
		for _, k := range keys {
			if r, ok := m.tasks[taskKey{k.Window, k.Tenant, k.TaskID}]; ok {
				out = append(out, r)
			}
		}
		return out, nil
	}
	m.wholeTaskLoads++
	for k, r := range m.tasks {
		if k.window >= from {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memStore) ScanUsageKeys(_ context.Context, table string, _ uint32, from int64, add func(*sink.UsageKey)) error {
	m.scans++
	for k := range m.usage[table] {
		if k.window >= from {
			add(&sink.UsageKey{Window: k.window, Tenant: k.tenant, App: k.app, TaskType: k.taskType, Provider: k.provider, Model: k.model, Operation: k.operation, Status: k.status})
		}
	}
	return nil
}

func (m *memStore) ScanTaskKeys(_ context.Context, _ uint32, from int64, add func(*sink.TaskKey)) error {
	for k := range m.tasks {
		if k.window >= from {
			add(&sink.TaskKey{Window: k.window, Tenant: k.tenant, TaskID: k.taskID})
		}
	}
	return nil
}

func (m *memStore) LastTaskWindow(_ context.Context, _ uint32, from int64) (int64, bool, error) {
	last, ok := int64(noTime), false
	for k := range m.tasks {
		if k.window >= from {
			last, ok = max(last, k.window), true
		}
	}
	return last, ok, nil
}

func (m *memStore) write(b *flushBatch) {
	for _, d := range b.dlq {
		m.dlq[d.msg.Offset]++
	}
	m.rows += b.tasks.Len()
	for _, u := range b.usage {
		m.rows += u.Cols.Len()
		for i := range u.Cols.Len() {
			r := u.Cols.Row(i)
			k := usageKey{r.WindowStart.UnixMilli(), r.Tenant, r.App, r.TaskType, r.Provider, r.Model, r.Operation, r.Status}
			if old, ok := m.usage[u.Table][k]; !ok || old.Version <= r.Version {
				m.usage[u.Table][k] = r
			}
		}
	}
	for i := range b.tasks.Len() {
		r := b.tasks.Row(i)
		k := taskKey{r.WindowStart.UnixMilli(), r.Tenant, r.TaskID}
		if old, ok := m.tasks[k]; !ok || old.Version <= r.Version {
			m.tasks[k] = r
		}
	}
	c := b.checkpoint
	if m.ckpt == nil || c.FlushedThrough >= m.ckpt.FlushedThrough {
		m.ckpt = &c
	}
}

// flush makes p's pending changes durable in m, as a flight does:
// late windows resolved, a snapshot written, the partition told.
func (m *memStore) flush(t testing.TB, ctx context.Context, p *partition) {
	t.Helper()
	if err := p.resolveCold(ctx, m); err != nil {
		t.Fatal(err)
	}
	b, err := p.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	m.write(b)
	p.flushed(b)
}

func (m *memStore) totals() (requests, cost int64, tasks int, taskRequests int64) {
	return m.usageTotals(sink.UsageTable)
}

// usageTotals sums one usage table; the task figures come along.
func (m *memStore) usageTotals(table string) (requests, cost int64, tasks int, taskRequests int64) {
	for _, r := range m.usage[table] {
		requests += int64(r.Requests)
		cost += r.CostNanos
	}
	for _, r := range m.tasks {
		taskRequests += int64(r.Requests)
	}
	ids := map[string]bool{}
	for k := range m.tasks {
		ids[k.tenant+"/"+k.taskID] = true
	}
	return requests, cost, len(ids), taskRequests
}

// stream makes a partition's messages: events with retries, malformed
// messages, late and too-old events, their times moving forward.
func stream(n int, seed uint64) (msgs []kafka.Message, wantRequests int64, wantDead int) {
	rng := rand.New(rand.NewPCG(seed, seed))
	base := time.Date(2026, 2, 28, 23, 30, 0, 0, time.UTC) // late events cross midnight after the day closed
	var sent []kafka.Message
	for i := 0; len(msgs) < n; i++ {
		now := base.Add(time.Duration(i) * 150 * time.Millisecond)
		var m kafka.Message
		switch x := rng.IntN(100); {
		case x < 4 && len(sent) > 0: // a retry of a recent event
			m = sent[len(sent)-1-rng.IntN(min(len(sent), 300))]
			m.Time = now
		case x < 6:
			m = kafka.Message{Value: []byte(`{"event_id":`), Time: now}
			wantDead++
		default:
			t := now
			if x < 12 { // late: up to 20 minutes
				t = now.Add(-time.Duration(rng.IntN(1200)) * time.Second)
			}
			if x == 12 { // beyond the correction horizon
				t = now.Add(-40 * 24 * time.Hour)
				wantDead++
			} else {
				wantRequests++
			}
			ev := schemas.Event{EventID: fmt.Sprintf("e%d", i), Time: t, Tenant: fmt.Sprintf("t%d", rng.IntN(3)),
				TaskID: fmt.Sprintf("task%d", rng.IntN(40)), Provider: "openai", Model: "gpt-4o",
				Usage: schemas.Usage{InputTokens: int64(100 + rng.IntN(5000)), OutputTokens: int64(rng.IntN(900))}}
			m = kafka.Message{Value: schemas.AppendJSON(nil, &ev), Time: now}
			if x != 12 {
				sent = append(sent, m)
			}
		}
		m.Offset = int64(len(msgs))
		msgs = append(msgs, m)
	}
	return msgs, wantRequests, wantDead
}

// run consumes msgs, flushing every flushEvery messages and crashing (all
// memory lost, including the unflushed tail) at the given offsets.
func run(t *testing.T, msgs []kafka.Message, flushEvery int, crashes map[int]bool) *memStore {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Window, cfg.TaskWindow = time.Minute, 10*time.Minute
	cat := pricing.MustDefault()
	st := newMemStore()
	ctx := context.Background()
	var p *partition
	start := func() int64 {
		p = newPartition(0, &cfg, cat)
		if st.ckpt != nil {
			p.restore(*st.ckpt)
		} else {
			p.startFresh(0)
		}
		p.dlqThrough = -1
		for off := range st.dlq {
			p.dlqThrough = max(p.dlqThrough, off)
		}
		return p.next
	}
	flush := func() {
		if p.pending() == 0 || !p.active {
			return
		}
		st.flush(t, ctx, p)
	}
	off := start()
	sinceFlush := 0
	for off < int64(len(msgs)) {
		if crashes[int(off)] {
			delete(crashes, int(off))
			off = start()
			continue
		}
		m := msgs[off]
		if !p.active && !p.replaying(m.Offset) {
			if err := p.activate(ctx, st, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		p.process(&m)
		off++
		if sinceFlush++; sinceFlush == flushEvery {
			flush()
			sinceFlush = 0
		}
	}
	flush()
	return st
}

// Crashes at arbitrary offsets, with replays from the checkpoint, end in
// exactly the rows of an uninterrupted run: no event lost or counted twice.
func TestCrashesAndReplaysGiveExactTotals(t *testing.T) {
	msgs, wantRequests, wantDead := stream(30_000, 3)
	clean := run(t, msgs, 997, nil)
	req, cost, tasks, taskReq := clean.totals()
	daysMatchMinutes(t, clean)
	if req != wantRequests || taskReq != wantRequests || len(clean.dlq) != wantDead {
		t.Fatalf("clean run: %d requests (tasks %d), %d dead letters; want %d and %d", req, taskReq, len(clean.dlq), wantRequests, wantDead)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for trial := range 5 {
		crashes := map[int]bool{}
		for range 8 {
			crashes[rng.IntN(len(msgs))] = true
		}
		got := run(t, msgs, 500+rng.IntN(2000), crashes)
		r2, c2, t2, tr2 := got.totals()
		if r2 != req || c2 != cost || t2 != tasks || tr2 != taskReq || len(got.dlq) != wantDead {
			t.Fatalf("trial %d: requests %d cost %d tasks %d task requests %d dead %d; clean run %d %d %d %d %d",
				trial, r2, c2, t2, tr2, len(got.dlq), req, cost, tasks, taskReq, wantDead)
		}
		for off, n := range got.dlq {
			if n != 1 {
				t.Fatalf("trial %d: offset %d dead-lettered %d times", trial, off, n)
			}
		}
		for table, rows := range clean.usage {
			for k, want := range rows {
				g := got.usage[table][k]
				if g != want {
					t.Fatalf("trial %d: %s row %+v differs: %+v vs %+v", trial, table, k, g, want)
				}
			}
			if len(got.usage[table]) != len(rows) {
				t.Fatalf("trial %d: %s holds %d rows, clean run %d", trial, table, len(got.usage[table]), len(rows))
			}
		}
		daysMatchMinutes(t, got)
	}
}

func TestEventsClickHouseCannotStoreAreDeadLettered(t *testing.T) {
	cfg := DefaultConfig()
	p := newPartition(0, &cfg, pricing.MustDefault())
	p.startFresh(0)
	p.active = true
	for i, ts := range []time.Time{time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(2150, 1, 1, 0, 0, 0, 0, time.UTC)} {
		ev := schemas.Event{EventID: fmt.Sprint(i), Time: ts, Tenant: "t", Provider: "openai", Model: "gpt-4o"}
		m := kafka.Message{Offset: int64(i), Value: schemas.AppendJSON(nil, &ev), Time: ts}
		if o := p.process(&m); o != outDeadLettered {
			t.Fatalf("event at %s: outcome %s", ts, outcomeNames[o])
		}
	}
	if len(p.dlq) != 2 || !strings.Contains(p.dlq[0].reason, "outside the range") {
		t.Fatalf("dead letters %+v", p.dlq)
	}
}

// daysMatchMinutes requires every day state and every month state to equal
// the sum of its minute states, to the token and nano-dollar, and no day or
// month state without minutes.
func daysMatchMinutes(t *testing.T, st *memStore) {
	t.Helper()
	coarserMatchMinutes(t, st, sink.UsageDailyTable, func(w int64) int64 { return windowStart(w, 24*time.Hour.Milliseconds()) })
	coarserMatchMinutes(t, st, sink.UsageMonthlyTable, monthStart)
}

func coarserMatchMinutes(t *testing.T, st *memStore, table string, start func(int64) int64) {
	t.Helper()
	want := map[usageKey]schemas.UsageRow{}
	for k, r := range st.usage[sink.UsageTable] {
		k.window = start(k.window)
		d := want[k]
		d.Requests += r.Requests
		d.InputTokens += r.InputTokens
		d.OutputTokens += r.OutputTokens
		d.CacheReadTokens += r.CacheReadTokens
		d.CacheWriteTokens += r.CacheWriteTokens
		d.CacheWrite1hTokens += r.CacheWrite1hTokens
		d.ReasoningTokens += r.ReasoningTokens
		d.CostNanos += r.CostNanos
		d.RefCostNanos += r.RefCostNanos
		d.UnpricedRequests += r.UnpricedRequests
		d.LatencyMsSum += r.LatencyMsSum
		d.LatencyMsMax = max(d.LatencyMsMax, r.LatencyMsMax)
		want[k] = d
	}
	got := st.usage[table]
	if len(got) != len(want) || len(got) == 0 {
		t.Fatalf("%d %s states, %d windows in the minute states", len(got), table, len(want))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Fatalf("%s state %+v missing", table, k)
		}
		if g.Requests != w.Requests || g.InputTokens != w.InputTokens || g.OutputTokens != w.OutputTokens ||
			g.CacheReadTokens != w.CacheReadTokens || g.CacheWriteTokens != w.CacheWriteTokens || g.CacheWrite1hTokens != w.CacheWrite1hTokens ||
			g.ReasoningTokens != w.ReasoningTokens || g.CostNanos != w.CostNanos || g.RefCostNanos != w.RefCostNanos ||
			g.UnpricedRequests != w.UnpricedRequests || g.LatencyMsSum != w.LatencyMsSum || g.LatencyMsMax != w.LatencyMsMax {
			t.Fatalf("%s state %+v: %+v, its minutes sum to %+v", table, k, g, w)
		}
	}
}
