package alert

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/alert/notify"
)

// PeriodConfig configures `jevons alert`.
type PeriodConfig struct {
	Owner    string        // names this service's instances in the history; one active evaluator per owner
	Interval time.Duration // between evaluations, default 30s
}

// Period evaluates budget, threshold, spike and jevons rules against
// ClickHouse on a schedule. Instance states live in the alerts history
// and the outbox, keyed deterministically, so a restart continues where
// the last run stopped: no duplicate firing, none lost.
type Period struct {
	cfg   PeriodConfig
	rules []*Rule
	q     *Querier
	store *Store
	d     *Dispatcher
	m     *Metrics
	log   *zap.Logger
	now   func() time.Time
	inst  map[string]*instance // by rule + "\x00" + group key
}

// instance is one alert instance of a period rule.
type instance struct {
	rule    *Rule
	gk      string
	state   string // inactive, pending, firing
	key     string
	episode string
	since   time.Time // pending or firing since
	seq     int
	kept    bool // this process has handed the firing to the channels (or found it delivered)
}

// obs is one group's evaluation.
type obs struct {
	labels    map[string]string
	cond      bool
	value     float64
	threshold float64
	episode   string // budget: the period; "" for the others
	figures   map[string]any
	verdict   string
}

// NewPeriod returns the evaluator of set's period rules.
func NewPeriod(cfg PeriodConfig, set *Set, q *Querier, store *Store, d *Dispatcher, m *Metrics, log *zap.Logger, now func() time.Time) *Period {
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	if now == nil {
		now = time.Now
	}
	return &Period{cfg: cfg, rules: set.Of(KindBudget, KindThreshold, KindSpike, KindJevons), q: q, store: store, d: d, m: m,
		log: log.Named("period"), now: now, inst: map[string]*instance{}}
}

func (p *Period) owner() string { return "period/" + p.cfg.Owner }

// Restore loads the instances' last recorded states and queues the
// notifications stored but not delivered.
func (p *Period) Restore(ctx context.Context) error {
	byName := map[string]*Rule{}
	for _, r := range p.rules {
		byName[r.Name] = r
	}
	rows, err := p.store.LatestStates(ctx, p.owner())
	if err != nil {
		return err
	}
	for _, row := range rows {
		r := byName[row.Rule]
		if r == nil || (row.State != "pending" && row.State != notify.Firing && row.State != "repeat") {
			continue
		}
		st := row.State
		if st == "repeat" {
			st = notify.Firing
		}
		p.inst[r.Name+"\x00"+row.GroupKey] = &instance{rule: r, gk: row.GroupKey, state: st, key: row.Key, since: row.StartedAt, seq: int(row.Seq),
			episode: episodeOf(r, row.StartedAt)}
	}
	jobs, err := p.store.Undelivered(ctx, p.owner())
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if r := byName[j.N.Rule]; r != nil && j.N.State == notify.Firing {
			id := r.Name + "\x00" + j.GroupKey
			if in := p.inst[id]; in == nil || in.since.Before(j.N.StartedAt) || in.key == j.N.Key {
				p.inst[id] = &instance{rule: r, gk: j.GroupKey, state: notify.Firing, key: j.N.Key, since: j.N.StartedAt, seq: j.N.Repeat,
					episode: episodeOf(r, j.N.StartedAt)}
			}
		}
		p.d.Enqueue(j)
	}
	return nil
}

// episodeOf recovers a budget instance's period from its start.
func episodeOf(r *Rule, started time.Time) string {
	if r.Kind != KindBudget {
		return ""
	}
	start, _ := periodBounds(started, r.Budget.Period, r.Budget.loc, r.Budget.fixed)
	return strconv.FormatInt(start.Unix(), 10)
}

// Run evaluates every Interval until ctx ends.
func (p *Period) Run(ctx context.Context) error {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		p.EvaluateAll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// EvaluateAll evaluates every rule once at the injected clock's time.
func (p *Period) EvaluateAll(ctx context.Context) {
	now := p.now()
	for _, r := range p.rules {
		start := time.Now()
		got, err := p.evaluate(ctx, r, now)
		p.m.Evaluations.WithLabelValues(r.Name).Inc()
		p.m.EvalSeconds.WithLabelValues(r.Name).Observe(time.Since(start).Seconds())
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("rule evaluation failed", zap.String("rule", r.Name), zap.Error(err))
			}
			continue
		}
		p.step(ctx, r, got, now)
	}
}

func (p *Period) evaluate(ctx context.Context, r *Rule, now time.Time) ([]obs, error) {
	switch r.Kind {
	case KindBudget:
		return p.budget(ctx, r, now)
	case KindThreshold:
		return p.threshold(ctx, r, now)
	case KindSpike:
		return p.spike(ctx, r, now)
	case KindJevons:
		return p.jevons(ctx, r, now)
	}
	return nil, fmt.Errorf("rule kind %q is not evaluated here", r.Kind)
}

// rangeEnd is the end of the minute windows an evaluation at now reads:
// the current minute's window included.
func rangeEnd(now time.Time) time.Time { return now.UTC().Truncate(time.Minute).Add(time.Minute) }

// periodBounds returns the calendar period (or epoch-aligned fixed period)
// holding t.
func periodBounds(t time.Time, period string, loc *time.Location, fixed time.Duration) (time.Time, time.Time) {
	if fixed > 0 {
		s := time.Unix(0, 0).Add(t.Sub(time.Unix(0, 0)).Truncate(fixed)).UTC()
		if s.After(t) {
			s = s.Add(-fixed)
		}
		return s, s.Add(fixed)
	}
	l := t.In(loc)
	day := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	switch period {
	case "week":
		s := day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
		return s, s.AddDate(0, 0, 7)
	case "month":
		s := time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, loc)
		return s, s.AddDate(0, 1, 0)
	}
	return day, day.AddDate(0, 0, 1)
}

func (p *Period) budget(ctx context.Context, r *Rule, now time.Time) ([]obs, error) {
	b := r.Budget
	start, end := periodBounds(now, b.Period, b.loc, b.fixed)
	metric := "cost"
	if b.Metric == "tokens" {
		metric = "tokens"
	}
	gs, err := p.q.sums(ctx, r, metric, start, rangeEnd(now))
	if err != nil {
		return nil, err
	}
	elapsed := now.Sub(start).Seconds()
	var out []obs
	for _, g := range gs {
		projected := g.value
		if elapsed > 0 {
			projected = g.value * end.Sub(start).Seconds() / elapsed
		}
		for _, t := range b.Thresholds {
			labels := copyLabels(g.labels)
			labels["threshold_pct"] = strconv.FormatFloat(t*100, 'f', -1, 64)
			out = append(out, obs{labels: labels, cond: g.value >= t*b.Limit, value: g.value, threshold: t * b.Limit,
				episode: strconv.FormatInt(start.Unix(), 10),
				figures: map[string]any{"metric": b.Metric, "spent": g.value, "limit": b.Limit, "used_pct": 100 * g.value / b.Limit,
					"threshold_pct": t * 100, "period_start": start.UTC(), "period_end": end.UTC(), "projected": projected}})
		}
	}
	return out, nil
}

func (p *Period) threshold(ctx context.Context, r *Rule, now time.Time) ([]obs, error) {
	t := r.Threshold
	end := rangeEnd(now)
	from := end.Add(-time.Duration(t.Window))
	gs, err := p.q.sums(ctx, r, t.Metric, from, end)
	if err != nil {
		return nil, err
	}
	var out []obs
	for _, g := range gs {
		cond := g.value > t.Value
		if t.Op == "below" {
			cond = g.value < t.Value
		}
		out = append(out, obs{labels: g.labels, cond: cond, value: g.value, threshold: t.Value,
			figures: map[string]any{"metric": t.Metric, "value": g.value, "threshold": t.Value, "op": t.Op,
				"window": time.Duration(t.Window).String(), "range_start": from, "range_end": end}})
	}
	return out, nil
}

func (p *Period) spike(ctx context.Context, r *Rule, now time.Time) ([]obs, error) {
	s := r.Spike
	end := rangeEnd(now)
	gs, err := p.q.spikeSums(ctx, r, s, end)
	if err != nil {
		return nil, err
	}
	var out []obs
	for _, g := range gs {
		base := g.extra[0]
		factor := math.Inf(1)
		if base > 0 {
			factor = g.value / base
		}
		cond := g.value >= s.Floor && g.value > s.Factor*base && g.value > 0
		figFactor := any(factor)
		if math.IsInf(factor, 1) {
			figFactor = "inf"
		}
		out = append(out, obs{labels: g.labels, cond: cond, value: g.value, threshold: s.Factor * base,
			figures: map[string]any{"metric": s.Metric, "value": g.value, "baseline": base, "factor": figFactor, "floor": s.Floor,
				"window": time.Duration(s.Window).String(), "range_start": end.Add(-time.Duration(s.Window)), "range_end": end}})
	}
	return out, nil
}

func copyLabels(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+4)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// step advances every instance of r: inactive -> pending (with for:) ->
// firing -> resolved, with a notification on firing, every repeat
// interval while firing, and on resolve.
func (p *Period) step(ctx context.Context, r *Rule, got []obs, now time.Time) {
	seen := map[string]bool{}
	for i := range got {
		o := &got[i]
		for k, v := range r.Labels {
			o.labels[k] = v
		}
		gk := groupKey(o.labels)
		id := r.Name + "\x00" + gk
		seen[id] = true
		in := p.inst[id]
		if in == nil {
			in = &instance{rule: r, gk: gk, state: "inactive"}
			p.inst[id] = in
		}
		p.advance(ctx, in, o, now)
	}
	for id, in := range p.inst {
		if in.rule == r && !seen[id] && in.state != "inactive" {
			p.advance(ctx, in, &obs{labels: parseGroupKey(in.gk), cond: false}, now)
		}
	}
	counts := map[string]int{}
	for _, in := range p.inst {
		if in.rule == r {
			counts[in.state]++
		}
	}
	p.m.Instances.WithLabelValues(r.Name, "pending").Set(float64(counts["pending"]))
	p.m.Instances.WithLabelValues(r.Name, "firing").Set(float64(counts[notify.Firing]))
}

func (p *Period) advance(ctx context.Context, in *instance, o *obs, now time.Time) {
	r := in.rule
	if in.state == notify.Firing && o.episode != "" && in.episode != o.episode {
		// a budget's period ended: its thresholds resolve with it
		start, end := periodBounds(in.since, r.Budget.Period, r.Budget.loc, r.Budget.fixed)
		_ = start
		p.send(in, o, notify.Resolved, &end)
		in.state = "inactive"
	}
	switch {
	case in.state == "inactive" && o.cond:
		in.since, in.episode, in.seq = now.UTC().Truncate(time.Second), o.episode, 0
		if r.For > 0 {
			in.state = "pending"
			p.record(ctx, in, o, "pending")
			return
		}
		p.fire(in, o)
	case in.state == "pending" && o.cond:
		if now.Sub(in.since) >= time.Duration(r.For) {
			p.fire(in, o)
		}
	case in.state == "pending" && !o.cond:
		in.state = "inactive"
		p.record(ctx, in, o, "inactive")
	case in.state == notify.Firing && o.cond:
		if !in.kept {
			// restored from an earlier process: the outbox finds it
			// delivered and Alertmanager channels take it up again
			in.kept = true
			p.send(in, o, notify.Firing, nil)
		}
		if r.Repeat > 0 {
			if n := int(now.Sub(in.since) / time.Duration(r.Repeat)); n > in.seq {
				in.seq = n
				p.send(in, o, notify.Firing, nil)
			}
		}
	case in.state == notify.Firing && !o.cond && o.episode == "":
		end := now.UTC()
		p.send(in, o, notify.Resolved, &end)
		in.state = "inactive"
	}
}

func (p *Period) fire(in *instance, o *obs) {
	in.state = notify.Firing
	ep := "since/" + strconv.FormatInt(in.since.Unix(), 10)
	if o.episode != "" {
		ep = "period/" + o.episode
	}
	in.key = IdempotencyKey(in.rule.Name, in.gk, ep)
	in.kept = true
	p.send(in, o, notify.Firing, nil)
}

func (p *Period) notification(in *instance, o *obs, state string, end *time.Time) Job {
	r := in.rule
	labels := o.labels
	n := notify.Notification{Key: in.key, Rule: r.Name, Kind: r.Kind, State: state, Repeat: in.seq, Labels: labels, Figures: o.figures,
		Verdict: o.verdict, StartedAt: in.since, ResolvedAt: end}
	if n.Figures == nil {
		n.Figures = map[string]any{}
	}
	if state == notify.Resolved {
		n.Repeat = 0
	}
	n.Annotations = r.annotate(templateData{Rule: r.Name, Kind: r.Kind, State: state, Labels: labels, Figures: n.Figures})
	hist := state
	if state == notify.Firing && in.seq > 0 {
		hist = "repeat"
	}
	return Job{N: n, Channels: r.Channels, Owner: p.owner(), GroupKey: in.gk, Value: o.value, Threshold: o.threshold, History: hist}
}

func (p *Period) send(in *instance, o *obs, state string, end *time.Time) {
	p.d.Enqueue(p.notification(in, o, state, end))
}

// record writes a state change that sends nothing (pending, back to
// inactive) to the history.
func (p *Period) record(ctx context.Context, in *instance, o *obs, state string) {
	j := p.notification(in, o, state, nil)
	if err := p.store.WriteHistory(ctx, &j, state, nil, nil); err != nil {
		p.log.Warn("write alert history", zap.Error(err))
	}
}

func parseGroupKey(gk string) map[string]string {
	out := map[string]string{}
	for gk != "" {
		var pair string
		pair, gk, _ = cut(gk, ",")
		k, v, _ := cut(pair, "=")
		out[k] = v
	}
	return out
}

func cut(s, sep string) (string, string, bool) {
	for i := 0; i+len(sep) <= len(s); i++ {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}
