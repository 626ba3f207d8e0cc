package alert

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/aggregate"
	"github.com/jevonsdev/jevons/alert/notify"
)

// RunawayConfig configures stream evaluation inside the aggregator.
type RunawayConfig struct {
	Group    string        // the aggregator's consumer group: owners are "stream/<group>/<partition>"
	Lookback time.Duration // how far back a new owner loads stored task partials, default 24h
	Tick     time.Duration // wall time between idle checks, default 1s
}

// Runaway evaluates runaway_task rules in the stream. It implements
// aggregate.Observer: each partition's owner evaluates only its own tasks
// (a task's events share a partition), so replicas never evaluate the same
// task twice.
//
// A task's total is the sum over its task windows of each window's partial,
// taking for each window the partial with the highest version among those
// observed (the stream hands the whole partial after every event) and those
// stored in task_rollup (loaded once when an owner starts, for tasks not
// done within Lookback). Partials are whole states by offset, so the sum is
// exact: it equals the tasks view once everything is flushed. Until the
// stored partials are loaded a task is judged on what was observed, a lower
// bound: it can fire late, never falsely.
type Runaway struct {
	cfg   RunawayConfig
	rules []*Rule
	d     *Dispatcher
	m     *Metrics
	conn  driver.Conn
	db    string
	log   *zap.Logger
	now   func() time.Time

	mu     sync.Mutex
	shards map[uint32]*shard

	evals  map[*Rule]prometheus.Counter
	widest int64 // the widest rate window of the rules with a rate limit, ms; 0: none
}

// NewRunaway returns the stream evaluator of set's runaway_task rules.
func NewRunaway(cfg RunawayConfig, set *Set, d *Dispatcher, conn driver.Conn, db string, m *Metrics, log *zap.Logger, now func() time.Time) *Runaway {
	if cfg.Lookback <= 0 {
		cfg.Lookback = 24 * time.Hour
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if now == nil {
		now = time.Now
	}
	r := &Runaway{cfg: cfg, rules: set.Of(KindRunaway), d: d, m: m, conn: conn, db: db, log: log.Named("runaway"), now: now,
		shards: map[uint32]*shard{}, evals: map[*Rule]prometheus.Counter{}}
	for _, rule := range r.rules {
		r.evals[rule] = m.Evaluations.WithLabelValues(rule.Name)
		if rule.Runaway.Rate > 0 {
			r.widest = max(r.widest, time.Duration(rule.Runaway.RateWindow).Milliseconds())
		}
	}
	return r
}

// shard is one partition's tasks under one owner value.
type shard struct {
	mu     sync.Mutex
	id     uint32
	owner  uint64
	tasks  map[[2]string]*task
	loaded bool
}

type partial struct {
	requests, tokens uint64
	cost             int64
	minTime, maxTime int64
	version          int64
	done             bool
}

// task is what the evaluator knows of one running task.
type task struct {
	tenant, id, taskType, app string
	windows                   map[int64]partial
	models                    map[string]struct{}
	rate                      []costAt // observed events within the widest rate window (only with rate rules)
	rateSum                   int64    // their cost
	lastWall                  time.Time
	firing                    map[*Rule]*episode
	finished                  map[*Rule]bool // resolved because the task ended: never fires again
}

type costAt struct {
	ms   int64
	cost int64
}

type episode struct {
	key     string
	started time.Time
	rate    bool // fired on the spend rate only: resolves when the rate falls
}

func (t *task) totals() (p partial) {
	p.minTime = 1 << 62
	for _, w := range t.windows {
		p.requests += w.requests
		p.tokens += w.tokens
		p.cost += w.cost
		p.minTime, p.maxTime = min(p.minTime, w.minTime), max(p.maxTime, w.maxTime)
		p.done = p.done || w.done
	}
	return p
}

// ObserveTask is called on the partition's goroutine; it evaluates in
// memory and hands notifications to the dispatcher's bounded queue.
func (r *Runaway) ObserveTask(o *aggregate.TaskObservation) {
	if len(r.rules) == 0 {
		return
	}
	s := r.shard(o.Partition, o.Owner)
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{o.Tenant, o.TaskID}
	t := s.tasks[k]
	if t == nil {
		t = &task{tenant: o.Tenant, id: o.TaskID, taskType: o.TaskType, app: o.App, windows: map[int64]partial{},
			models: map[string]struct{}{}, firing: map[*Rule]*episode{}, finished: map[*Rule]bool{}}
		s.tasks[k] = t
	}
	if w, ok := t.windows[o.Window]; !ok || w.version < o.Partial.Version {
		t.windows[o.Window] = partial{requests: o.Partial.Requests, tokens: o.Partial.Tokens, cost: o.Partial.CostNanos,
			minTime: o.Partial.MinTime, maxTime: o.Partial.MaxTime, version: o.Partial.Version, done: o.Partial.Done}
	}
	for _, m := range o.Partial.Models {
		if _, ok := t.models[m]; !ok {
			t.models[m] = struct{}{}
		}
	}
	if r.widest > 0 {
		t.rate = append(t.rate, costAt{o.Time, o.CostNanos})
		t.rateSum += o.CostNanos
		r.trimRate(t, o.Time)
	}
	t.lastWall = r.now()
	r.evaluate(s, t, o.Time)
}

func (r *Runaway) shard(id uint32, owner uint64) *shard {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.shards[id]
	if s == nil || s.owner != owner {
		// A new owner value: what an earlier one knew may be stale.
		s = &shard{id: id, owner: owner, tasks: map[[2]string]*task{}}
		r.shards[id] = s
		go r.start(s)
	}
	return s
}

// Released drops a partition's tasks when its owner value lets it go: the
// next owner (here or in another replica) judges them from then on.
func (r *Runaway) Released(partition uint32, owner uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.shards[partition]; s != nil && s.owner == owner {
		delete(r.shards, partition)
	}
}

func (r *Runaway) ownerName(p uint32) string {
	return "stream/" + r.cfg.Group + "/" + strconv.Itoa(int(p))
}

// start loads the stored partials of the partition's open tasks and
// re-sends what an earlier owner stored but did not deliver.
func (r *Runaway) start(s *shard) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for attempt := 0; ctx.Err() == nil; attempt++ {
		err := r.load(ctx, s)
		if err == nil {
			break
		}
		r.log.Warn("load stored task partials failed; retrying", zap.Uint32("partition", s.id), zap.Error(err))
		time.Sleep(time.Second)
	}
	if n, err := r.d.Resume(ctx, r.ownerName(s.id)); err != nil {
		r.log.Warn("resume undelivered notifications", zap.Uint32("partition", s.id), zap.Error(err))
	} else if n > 0 {
		r.log.Info("re-sending undelivered notifications", zap.Uint32("partition", s.id), zap.Int("count", n))
	}
}

func (r *Runaway) load(ctx context.Context, s *shard) error {
	from := r.now().Add(-r.cfg.Lookback).Unix()
	q := fmt.Sprintf(`SELECT tenant, task_id, toUInt32(window_start), task_type, app, requests, input_tokens + output_tokens, cost_nanos,
       toUInt32(min_time), toUInt32(max_time), models, done, version
FROM %[1]s.task_rollup FINAL
WHERE src_partition = %[2]d AND window_start >= toDateTime(%[3]d)
  AND (tenant, task_id) IN (SELECT tenant, task_id FROM %[1]s.task_rollup FINAL
                            WHERE src_partition = %[2]d AND window_start >= toDateTime(%[3]d)
                            GROUP BY tenant, task_id HAVING max(done) = 0)`, r.db, s.id, max(from, 0))
	rows, err := r.conn.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("load task partials: %w", err)
	}
	defer rows.Close()
	type row struct {
		tenant, id, taskType, app string
		window                    uint32
		p                         partial
		models                    []string
		minT, maxT                uint32
		done                      uint8
		version                   uint64
	}
	var got []row
	for rows.Next() {
		var x row
		if err := rows.Scan(&x.tenant, &x.id, &x.window, &x.taskType, &x.app, &x.p.requests, &x.p.tokens, &x.p.cost,
			&x.minT, &x.maxT, &x.models, &x.done, &x.version); err != nil {
			return fmt.Errorf("load task partials: %w", err)
		}
		x.p.minTime, x.p.maxTime, x.p.done, x.p.version = int64(x.minT), int64(x.maxT), x.done == 1, int64(x.version)
		got = append(got, x)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load task partials: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	touched := map[*task]int64{}
	for _, x := range got {
		if !r.inScope(x.tenant, x.app, x.taskType) {
			continue
		}
		k := [2]string{x.tenant, x.id}
		t := s.tasks[k]
		if t == nil {
			t = &task{tenant: x.tenant, id: x.id, taskType: x.taskType, app: x.app, windows: map[int64]partial{},
				models: map[string]struct{}{}, firing: map[*Rule]*episode{}, finished: map[*Rule]bool{}, lastWall: r.now()}
			s.tasks[k] = t
		}
		w := int64(x.window) * 1000
		if cur, ok := t.windows[w]; !ok || cur.version < x.p.version {
			t.windows[w] = x.p
		}
		for _, m := range x.models {
			t.models[m] = struct{}{}
		}
		touched[t] = max(touched[t], x.p.maxTime*1000)
	}
	s.loaded = true
	for t, ms := range touched {
		r.evaluate(s, t, ms)
	}
	return nil
}

func (r *Runaway) inScope(tenant, app, taskType string) bool {
	for _, rule := range r.rules {
		if rule.scope.task(tenant, app, taskType) {
			return true
		}
	}
	return false
}

// evaluate judges one task against every rule; nowMs is the event time.
func (r *Runaway) evaluate(s *shard, t *task, nowMs int64) {
	tot := t.totals()
	for _, rule := range r.rules {
		if !rule.scope.task(t.tenant, t.app, t.taskType) {
			continue
		}
		r.evals[rule].Inc()
		rw := time.Duration(rule.Runaway.RateWindow).Milliseconds()
		over, rateOver, rate := r.judge(rule.Runaway, tot, t, nowMs, rw)
		ep := t.firing[rule]
		if ep == nil && (over || rateOver) && !t.finished[rule] {
			// A done task may fire here too: after a restart the crossing
			// may lie below the checkpoint; the outbox drops the firing if
			// it was delivered before, and the resolve follows.
			epi := "total"
			if !over {
				epi = "rate/" + strconv.FormatInt(nowMs, 10)
			}
			ep = &episode{key: IdempotencyKey(rule.Name, groupKey(r.labels(rule, t)), epi), started: time.UnixMilli(nowMs).UTC(), rate: !over}
			t.firing[rule] = ep
			r.notify(s, rule, t, tot, rate, ep, notify.Firing, nil)
		}
		if ep != nil && (tot.done || (ep.rate && !rateOver && !over)) {
			end := time.UnixMilli(nowMs).UTC()
			r.notify(s, rule, t, tot, rate, ep, notify.Resolved, &end)
			delete(t.firing, rule)
			t.finished[rule] = tot.done
		}
	}
	if tot.done && len(t.firing) == 0 && s.loaded {
		delete(s.tasks, [2]string{t.tenant, t.id})
	}
}

// trimRate keeps the events inside the widest rate window ending at nowMs.
func (r *Runaway) trimRate(t *task, nowMs int64) {
	cut := 0
	for cut < len(t.rate) && t.rate[cut].ms <= nowMs-r.widest {
		t.rateSum -= t.rate[cut].cost
		cut++
	}
	t.rate = t.rate[cut:] // append reallocates once the front is used up: amortised O(1)
}

func (r *Runaway) judge(rr *RunawaySpec, tot partial, t *task, nowMs, rw int64) (over, rateOver bool, rate float64) {
	over = (rr.Cost > 0 && float64(tot.cost) > rr.Cost*1e9) || (rr.Tokens > 0 && tot.tokens > rr.Tokens) ||
		(rr.Requests > 0 && tot.requests > rr.Requests)
	if rr.Rate <= 0 {
		return over, false, 0
	}
	sum := t.rateSum
	if rw < r.widest {
		sum = 0
		for i := len(t.rate) - 1; i >= 0 && t.rate[i].ms > nowMs-rw; i-- {
			sum += t.rate[i].cost
		}
	}
	rate = float64(sum) / 1e9 / (float64(rw) / 60000)
	rateOver = rate > rr.Rate
	return over, rateOver, rate
}

func (r *Runaway) labels(rule *Rule, t *task) map[string]string {
	l := map[string]string{"tenant": t.tenant, "task_id": t.id}
	for _, g := range rule.GroupBy {
		switch g {
		case "app":
			l["app"] = t.app
		case "task_type":
			l["task_type"] = t.taskType
		}
	}
	for k, v := range rule.Labels {
		l[k] = v
	}
	return l
}

func (r *Runaway) notify(s *shard, rule *Rule, t *task, tot partial, rate float64, ep *episode, state string, end *time.Time) {
	models := make([]string, 0, len(t.models))
	for m := range t.models {
		models = append(models, m)
	}
	sortStrings(models)
	limit := rule.Runaway.Cost
	figs := map[string]any{
		"tenant": t.tenant, "task_id": t.id, "task_type": t.taskType, "app": t.app, "models": models,
		"requests": tot.requests, "tokens": tot.tokens, "cost_usd": float64(tot.cost) / 1e9, "rate_usd_per_min": rate,
		"limit": limit, "first_seen": time.Unix(tot.minTime, 0).UTC(), "last_seen": time.Unix(tot.maxTime, 0).UTC(),
		"duration_s": tot.maxTime - tot.minTime,
	}
	labels := r.labels(rule, t)
	r.log.Info("runaway task "+state, zap.String("rule", rule.Name), zap.String("tenant", t.tenant), zap.String("task_id", t.id),
		zap.String("key", ep.key), zap.Uint32("partition", s.id))
	n := notify.Notification{Key: ep.key, Rule: rule.Name, Kind: rule.Kind, State: state, Labels: labels, Figures: figs,
		StartedAt: ep.started, ResolvedAt: end}
	n.Annotations = rule.annotate(templateData{Rule: rule.Name, Kind: rule.Kind, State: state, Labels: labels, Figures: figs})
	r.d.Enqueue(Job{N: n, Channels: rule.Channels, Owner: r.ownerName(s.id), GroupKey: groupKey(labels),
		Value: float64(tot.cost) / 1e9, Threshold: limit, History: state})
}

// Run resolves tasks that went idle (no event for the rule's idle time,
// wall clock) until ctx ends.
func (r *Runaway) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		r.mu.Lock()
		shards := make([]*shard, 0, len(r.shards))
		for _, s := range r.shards {
			shards = append(shards, s)
		}
		r.mu.Unlock()
		for _, s := range shards {
			r.sweep(s)
		}
	}
}

func (r *Runaway) sweep(s *shard) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := r.now()
	maxIdle := time.Duration(0)
	for _, rule := range r.rules {
		maxIdle = max(maxIdle, time.Duration(rule.Runaway.Idle))
	}
	firing := map[string]int{}
	for k, t := range s.tasks {
		idle := now.Sub(t.lastWall)
		for rule, ep := range t.firing {
			if idle >= time.Duration(rule.Runaway.Idle) {
				tot := t.totals()
				end := now.UTC()
				r.notify(s, rule, t, tot, 0, ep, notify.Resolved, &end)
				delete(t.firing, rule)
				continue
			}
			firing[rule.Name]++
		}
		if len(t.firing) == 0 && idle >= maxIdle && s.loaded {
			delete(s.tasks, k)
		}
	}
	for _, rule := range r.rules {
		r.m.Instances.WithLabelValues(rule.Name, "firing").Set(float64(firing[rule.Name]))
	}
}
