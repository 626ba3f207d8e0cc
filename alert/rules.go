package alert

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"
)

// Rule kinds.
const (
	KindBudget    = "budget"
	KindThreshold = "threshold"
	KindSpike     = "spike"
	KindRunaway   = "runaway_task"
	KindJevons    = "jevons"
)

// File is one rules file: rules and the channels they name.
type File struct {
	Rules    []*Rule             `yaml:"rules"`
	Channels map[string]*Channel `yaml:"channels"`
}

// Rule is one alerting rule. Exactly the block of its kind is set.
type Rule struct {
	Name        string            `yaml:"name"`
	Kind        string            `yaml:"kind"`
	Scope       Scope             `yaml:"scope"`
	GroupBy     []string          `yaml:"group_by"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
	Channels    []string          `yaml:"channels"`
	Repeat      Duration          `yaml:"repeat"` // reminder interval while firing; 0: none
	For         Duration          `yaml:"for"`    // pending time before firing; 0: fire at once

	Budget    *Budget      `yaml:"budget"`
	Threshold *Threshold   `yaml:"threshold"`
	Spike     *Spike       `yaml:"spike"`
	Runaway   *RunawaySpec `yaml:"runaway"`
	Jevons    *Jevons      `yaml:"jevons"`

	File      string                        `yaml:"-"`
	scope     matcher                       `yaml:"-"`
	templates map[string]*template.Template `yaml:"-"`
}

// Scope filters usage by exact value or glob (* and ?) per dimension.
type Scope struct {
	Tenant   string `yaml:"tenant"`
	App      string `yaml:"app"`
	TaskType string `yaml:"task_type"`
	Provider string `yaml:"provider"`
	Model    string `yaml:"model"`
}

// Budget: spend or tokens per calendar period against a limit.
type Budget struct {
	Metric     string    `yaml:"metric"` // cost (USD) or tokens
	Period     string    `yaml:"period"` // day, week (from Monday), month, or a fixed duration such as 10m
	Timezone   string    `yaml:"timezone"`
	Limit      float64   `yaml:"limit"`
	Thresholds []float64 `yaml:"thresholds"` // fractions of the limit, default [1]

	loc   *time.Location
	fixed time.Duration
}

// Threshold: a metric over a rolling window above or below a value.
type Threshold struct {
	Metric string   `yaml:"metric"`
	Window Duration `yaml:"window"`
	Op     string   `yaml:"op"` // above (default) or below
	Value  float64  `yaml:"value"`
}

// Spike: a metric over a window against a baseline.
type Spike struct {
	Metric   string   `yaml:"metric"`
	Window   Duration `yaml:"window"`
	Baseline string   `yaml:"baseline"` // mean (of the same window over the last Periods periods) or last_week
	Periods  int      `yaml:"periods"`  // for mean, default 7
	Period   Duration `yaml:"period"`   // for mean, default 1d
	Factor   float64  `yaml:"factor"`
	Floor    float64  `yaml:"floor"` // the window's value must also reach this
}

// RunawaySpec: a running task above a limit, evaluated in the stream.
type RunawaySpec struct {
	Cost       float64  `yaml:"cost"` // USD
	Tokens     uint64   `yaml:"tokens"`
	Requests   uint64   `yaml:"requests"`
	Rate       float64  `yaml:"rate"`        // USD per minute over RateWindow
	RateWindow Duration `yaml:"rate_window"` // default 5m
	Idle       Duration `yaml:"idle"`        // a task without events this long (wall time) has ended; default 10m
}

// Jevons: spend rose while unit cost fell, or tokens per task rose, between
// the previous period and the current one.
type Jevons struct {
	Period               string  `yaml:"period"` // day, week, month or a fixed duration
	Timezone             string  `yaml:"timezone"`
	SpendRisePct         float64 `yaml:"spend_rise_pct"`
	UnitCostFallPct      float64 `yaml:"unit_cost_fall_pct"`
	TokensPerTaskRisePct float64 `yaml:"tokens_per_task_rise_pct"`

	loc   *time.Location
	fixed time.Duration
}

// Channel is one delivery target.
type Channel struct {
	Type      string            `yaml:"type"` // webhook, slack, alertmanager
	URL       string            `yaml:"url"`
	URLEnv    string            `yaml:"url_env"`    // read the URL from this variable instead
	SecretEnv string            `yaml:"secret_env"` // webhook: the HMAC secret's variable
	Headers   map[string]string `yaml:"headers"`
	Resend    Duration          `yaml:"resend"` // alertmanager: re-send interval, default 1m
}

// Duration is a YAML duration: Go syntax plus d (days) and w (weeks).
type Duration time.Duration

// UnmarshalYAML parses "90s", "15m", "24h", "7d", "1w".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// ParseDuration parses Go durations and whole days or weeks ("7d", "2w").
func ParseDuration(s string) (time.Duration, error) {
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			if k, err := strconv.Atoi(n); err == nil {
				return time.Duration(k) * unit, nil
			}
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q (want e.g. 90s, 15m, 24h, 7d)", s)
	}
	return d, nil
}

// Set is the rules and channels of one or more files.
type Set struct {
	Rules    []*Rule
	Channels map[string]*Channel
}

// Load reads and validates rules files, reporting every problem at once,
// each named by file, rule and field.
func Load(paths ...string) (*Set, error) {
	set := &Set{Channels: map[string]*Channel{}}
	var errs []error
	chanFile := map[string]string{}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		f, err := Parse(data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		for name, c := range f.Channels {
			if prev, dup := chanFile[name]; dup {
				errs = append(errs, fmt.Errorf("%s: channel %q: already defined in %s", path, name, prev))
				continue
			}
			chanFile[name] = path
			set.Channels[name] = c
			for _, p := range c.validate() {
				errs = append(errs, fmt.Errorf("%s: channel %q: %s", path, name, p))
			}
		}
		for _, r := range f.Rules {
			r.File = path
			set.Rules = append(set.Rules, r)
		}
	}
	errs = append(errs, set.validate()...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return set, nil
}

// Parse decodes one file strictly: unknown keys are errors.
func Parse(data []byte) (*File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parse rules: %w", err)
	}
	return &f, nil
}

// Of returns the rules of the given kinds.
func (s *Set) Of(kinds ...string) []*Rule {
	var out []*Rule
	for _, r := range s.Rules {
		for _, k := range kinds {
			if r.Kind == k {
				out = append(out, r)
			}
		}
	}
	return out
}

var (
	nameRE  = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)
	labelRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// usageMetrics are the metrics period rules read.
var usageMetrics = map[string]bool{"cost": true, "tokens": true, "requests": true, "unpriced_requests": true, "error_rate": true, "cost_per_task": true}

func (s *Set) validate() []error {
	var errs []error
	seen := map[string]string{}
	for i, r := range s.Rules {
		where := fmt.Sprintf("%s: rule %q", r.File, r.Name)
		if r.Name == "" {
			where = fmt.Sprintf("%s: rule #%d", r.File, i+1)
		}
		if prev, dup := seen[r.Name]; dup && r.Name != "" {
			errs = append(errs, fmt.Errorf("%s: name: already used in %s", where, prev))
		}
		seen[r.Name] = r.File
		for _, p := range r.validate(s.Channels) {
			errs = append(errs, fmt.Errorf("%s: %s", where, p))
		}
	}
	return errs
}

func (r *Rule) validate(channels map[string]*Channel) []string {
	var ps []string
	bad := func(f string, a ...any) { ps = append(ps, fmt.Sprintf(f, a...)) }
	if !nameRE.MatchString(r.Name) {
		bad("name: want 1-128 characters of [A-Za-z0-9_.:-], got %q", r.Name)
	}
	blocks := map[string]bool{KindBudget: r.Budget != nil, KindThreshold: r.Threshold != nil, KindSpike: r.Spike != nil,
		KindRunaway: r.Runaway != nil, KindJevons: r.Jevons != nil}
	blockName := map[string]string{KindRunaway: "runaway"}
	if _, ok := blocks[r.Kind]; !ok {
		bad("kind: unknown kind %q (want budget, threshold, spike, runaway_task or jevons)", r.Kind)
	} else if !blocks[r.Kind] {
		name := blockName[r.Kind]
		if name == "" {
			name = r.Kind
		}
		bad("%s: missing: a %s rule needs its %q block", name, r.Kind, name)
	}
	for k, set := range blocks {
		if set && k != r.Kind {
			bad("%s: block given but kind is %q", k, r.Kind)
		}
	}
	m, err := newMatcher(r.Scope)
	if err != nil {
		bad("scope: %v", err)
	}
	r.scope = m
	allowed := map[string]bool{"tenant": true, "app": true, "task_type": true, "provider": true, "model": true}
	if r.Kind == KindRunaway {
		allowed = map[string]bool{"tenant": true, "app": true, "task_type": true}
	}
	for _, g := range r.GroupBy {
		if !allowed[g] {
			bad("group_by: %q cannot group a %s rule (want %s)", g, r.Kind, strings.Join(sortedSet(allowed), ", "))
		}
	}
	for k := range r.Labels {
		if !labelRE.MatchString(k) || k == "alertname" {
			bad("labels: %q is not a usable label name", k)
		}
	}
	if len(r.Channels) == 0 {
		bad("channels: none given")
	}
	for _, c := range r.Channels {
		if channels[c] == nil {
			bad("channels: unknown channel %q", c)
		}
	}
	if r.Repeat < 0 || (r.Repeat > 0 && time.Duration(r.Repeat) < time.Second) {
		bad("repeat: want 0 (no reminders) or at least 1s, got %v", time.Duration(r.Repeat))
	}
	if r.For < 0 {
		bad("for: must be >= 0")
	}
	if r.For > 0 && (r.Kind == KindRunaway || r.Kind == KindBudget) {
		bad("for: not used by %s rules (they fire on the crossing)", r.Kind)
	}
	switch {
	case r.Kind == KindBudget && r.Budget != nil:
		ps = append(ps, r.Budget.validate()...)
	case r.Kind == KindThreshold && r.Threshold != nil:
		ps = append(ps, r.Threshold.validate()...)
	case r.Kind == KindSpike && r.Spike != nil:
		ps = append(ps, r.Spike.validate()...)
	case r.Kind == KindRunaway && r.Runaway != nil:
		ps = append(ps, r.Runaway.validate()...)
	case r.Kind == KindJevons && r.Jevons != nil:
		ps = append(ps, r.Jevons.validate()...)
	}
	ps = append(ps, r.compileTemplates()...)
	return ps
}

func (b *Budget) validate() []string {
	var ps []string
	if b.Metric == "" {
		b.Metric = "cost"
	}
	if b.Metric != "cost" && b.Metric != "tokens" {
		ps = append(ps, fmt.Sprintf("budget.metric: want cost or tokens, got %q", b.Metric))
	}
	loc, fixed, err := parsePeriod(b.Period, b.Timezone)
	if err != nil {
		ps = append(ps, "budget."+err.Error())
	}
	b.loc, b.fixed = loc, fixed
	if b.Limit <= 0 {
		ps = append(ps, "budget.limit: missing or not > 0")
	}
	if len(b.Thresholds) == 0 {
		b.Thresholds = []float64{1}
	}
	for _, t := range b.Thresholds {
		if t <= 0 || t > 10 {
			ps = append(ps, fmt.Sprintf("budget.thresholds: %v is not a fraction of the limit in (0, 10]", t))
		}
	}
	sort.Float64s(b.Thresholds)
	return ps
}

// parsePeriod reads a calendar period (day, week, month) in a time zone or
// a fixed duration (aligned to the Unix epoch).
func parsePeriod(period, tz string) (*time.Location, time.Duration, error) {
	loc := time.UTC
	if tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return nil, 0, fmt.Errorf("timezone: unknown time zone %q", tz)
		}
		loc = l
	}
	switch period {
	case "day", "week", "month":
		return loc, 0, nil
	case "":
		return loc, 0, errors.New("period: missing (want day, week, month or a duration)")
	}
	d, err := ParseDuration(period)
	if err != nil || d < time.Minute || d%time.Minute != 0 {
		return loc, 0, fmt.Errorf("period: want day, week, month or a whole number of minutes, got %q", period)
	}
	return loc, d, nil
}

func metricProblem(field, m string) []string {
	if !usageMetrics[m] {
		return []string{fmt.Sprintf("%s: unknown metric %q (want %s)", field, m, strings.Join(sortedSet(usageMetrics), ", "))}
	}
	return nil
}

func windowProblem(field string, w Duration) []string {
	d := time.Duration(w)
	if d < time.Minute || d%time.Minute != 0 {
		return []string{fmt.Sprintf("%s: want a whole number of minutes (usage windows are 1m), got %v", field, d)}
	}
	return nil
}

func (t *Threshold) validate() []string {
	ps := metricProblem("threshold.metric", t.Metric)
	ps = append(ps, windowProblem("threshold.window", t.Window)...)
	if t.Op == "" {
		t.Op = "above"
	}
	if t.Op != "above" && t.Op != "below" {
		ps = append(ps, fmt.Sprintf("threshold.op: want above or below, got %q", t.Op))
	}
	return ps
}

func (s *Spike) validate() []string {
	ps := metricProblem("spike.metric", s.Metric)
	ps = append(ps, windowProblem("spike.window", s.Window)...)
	switch s.Baseline {
	case "", "mean":
		s.Baseline = "mean"
		if s.Periods == 0 {
			s.Periods = 7
		}
		if s.Period == 0 {
			s.Period = Duration(24 * time.Hour)
		}
	case "last_week":
		s.Periods, s.Period = 1, Duration(7*24*time.Hour)
	default:
		ps = append(ps, fmt.Sprintf("spike.baseline: want mean or last_week, got %q", s.Baseline))
	}
	if s.Periods < 1 || s.Periods > 400 {
		ps = append(ps, fmt.Sprintf("spike.periods: want 1..400, got %d", s.Periods))
	}
	if s.Period < s.Window || time.Duration(s.Period)%time.Minute != 0 {
		ps = append(ps, "spike.period: want whole minutes, at least the window")
	}
	if s.Factor <= 1 {
		ps = append(ps, "spike.factor: missing or not > 1")
	}
	if s.Floor < 0 {
		ps = append(ps, "spike.floor: must be >= 0")
	}
	return ps
}

func (r *RunawaySpec) validate() []string {
	var ps []string
	if r.Cost <= 0 && r.Tokens == 0 && r.Requests == 0 && r.Rate <= 0 {
		ps = append(ps, "runaway: missing limit: set cost, tokens, requests or rate")
	}
	if r.Cost < 0 || r.Rate < 0 {
		ps = append(ps, "runaway: cost and rate must be >= 0")
	}
	if r.RateWindow == 0 {
		r.RateWindow = Duration(5 * time.Minute)
	}
	if d := time.Duration(r.RateWindow); d < time.Second || d > time.Hour {
		ps = append(ps, fmt.Sprintf("runaway.rate_window: want 1s..1h, got %v", d))
	}
	if r.Idle == 0 {
		r.Idle = Duration(10 * time.Minute)
	}
	if r.Idle < Duration(time.Second) {
		ps = append(ps, "runaway.idle: want at least 1s")
	}
	return ps
}

func (j *Jevons) validate() []string {
	var ps []string
	loc, fixed, err := parsePeriod(j.Period, j.Timezone)
	if err != nil {
		ps = append(ps, "jevons."+err.Error())
	}
	j.loc, j.fixed = loc, fixed
	if j.SpendRisePct <= 0 && j.TokensPerTaskRisePct <= 0 {
		ps = append(ps, "jevons: missing condition: set spend_rise_pct (with unit_cost_fall_pct) or tokens_per_task_rise_pct")
	}
	if j.UnitCostFallPct < 0 || j.UnitCostFallPct >= 100 {
		ps = append(ps, "jevons.unit_cost_fall_pct: want 0..100")
	}
	return ps
}

func (c *Channel) validate() []string {
	var ps []string
	switch c.Type {
	case "webhook", "slack", "alertmanager":
	default:
		ps = append(ps, fmt.Sprintf("type: unknown channel type %q (want webhook, slack or alertmanager)", c.Type))
	}
	if c.URL == "" && c.URLEnv == "" {
		ps = append(ps, "url: missing (set url or url_env)")
	}
	if c.URL != "" && !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
		ps = append(ps, fmt.Sprintf("url: want http:// or https://, got %q", c.URL))
	}
	if c.SecretEnv != "" && c.Type != "webhook" {
		ps = append(ps, "secret_env: only webhooks are signed")
	}
	if c.Resend != 0 && (c.Type != "alertmanager" || c.Resend < Duration(time.Second)) {
		ps = append(ps, "resend: only for alertmanager, at least 1s")
	}
	return ps
}

func sortedSet(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
