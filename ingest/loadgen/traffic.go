package loadgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jevonsdev/jevons/schemas"
)

// Config shapes the traffic. Ratios are fractions of the valid events.
type Config struct {
	Seed        uint64
	Events      int           // distinct valid events
	Tenants     int           // default 20
	Concurrency int           // tasks in progress at once, default 200
	BadRatio    float64       // malformed messages added per event
	DupRatio    float64       // duplicate copies of events (producer retries)
	LateRatio   float64       // events whose time lies up to LateBy in the past
	LateBy      time.Duration // default 10m
	TooOldRatio float64       // events older than the correction horizon (dead-lettered)
	TooOldBy    time.Duration // default 40 days
	Spread      time.Duration // > 0: every event's time drawn uniformly from the last Spread, in random order (a backfill of history)
	Dims        string        // how a task's dimensions are drawn: DimsRandom (default) or DimsRealistic
}

// The ways a task's dimensions (app, task type, model) are drawn.
const (
	// DimsRandom draws each independently of the tenant and of each other:
	// every tenant uses every app, task type and model, the high
	// cardinality of a multi-tenant service with no say over its clients.
	DimsRandom = "random"
	// DimsRealistic correlates them as in real fleets: each tenant runs 1-3
	// apps, each app of each tenant uses 1-3 models and its own 1-2 task
	// types, fixed for the seed.
	DimsRealistic = "realistic"
)

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Seed: 1, Events: 10_000, Tenants: 20, Concurrency: 200, LateBy: 10 * time.Minute, TooOldBy: 40 * 24 * time.Hour, Dims: DimsRandom}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []string
	if c.Events < 0 || c.Tenants < 1 || c.Concurrency < 1 {
		errs = append(errs, fmt.Sprintf("events must be >= 0, tenants and concurrency >= 1 (got %d, %d, %d)", c.Events, c.Tenants, c.Concurrency))
	}
	for name, r := range map[string]float64{"bad-ratio": c.BadRatio, "dup-ratio": c.DupRatio, "late-ratio": c.LateRatio, "too-old-ratio": c.TooOldRatio} {
		if r < 0 || r > 1 || math.IsNaN(r) {
			errs = append(errs, fmt.Sprintf("%s must be within 0..1, got %v", name, r))
		}
	}
	if c.Dims != "" && c.Dims != DimsRandom && c.Dims != DimsRealistic {
		errs = append(errs, fmt.Sprintf("dims must be %s or %s, got %q", DimsRandom, DimsRealistic, c.Dims))
	}
	if c.LateBy < 0 || c.TooOldBy < 0 || c.Spread < 0 {
		errs = append(errs, "late-by, too-old-by and spread must be >= 0")
	}
	if len(errs) > 0 {
		return fmt.Errorf("loadgen config: %v", errs)
	}
	return nil
}

// modelSpec is a model the traffic uses, with its token profile.
type modelSpec struct {
	provider, model string
	weight          float64
	reasoning       bool
	caching         bool // prompt caching with explicit writes (anthropic style)
}

// The mix leans on widely used models of each big provider, one reasoning
// model each, and one in-house model that no catalog prices.
var models = []modelSpec{
	{"openai", "gpt-4o-2024-11-20", 12, false, false},
	{"openai", "gpt-4o-mini", 14, false, false},
	{"openai", "o3-mini", 5, true, false},
	{"anthropic", "claude-sonnet-4-5-20250929", 14, false, true},
	{"anthropic", "claude-haiku-4-5", 8, false, true},
	{"anthropic", "claude-opus-4-6", 3, true, true},
	{"gcp.gemini", "gemini-2.5-pro", 6, true, false},
	{"gcp.gemini", "gemini-2.5-flash", 10, true, false},
	{"deepseek", "deepseek-chat", 6, false, false},
	{"deepseek", "deepseek-reasoner", 3, true, false},
	{"mistral_ai", "mistral-large-latest", 3, false, false},
	{"aws.bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", 3, false, false},
	{"openai", "acme-internal-finetune-7b", 1, false, false}, // unpriced on purpose
}

var (
	apps      = []string{"chat", "code-assistant", "support-bot", "search", "batch-summarizer"}
	taskTypes = []string{"chat-turn", "code-review", "agent-run", "summarize", "extract", "rag-answer"}
	// appTaskTypes are the task types each app runs in realistic fleets.
	appTaskTypes = map[string][]string{
		"chat": {"chat-turn"}, "code-assistant": {"agent-run", "code-review"}, "support-bot": {"chat-turn", "rag-answer"},
		"search": {"rag-answer"}, "batch-summarizer": {"summarize", "extract"},
	}
)

// fleetApp is one app of one tenant in realistic fleets.
type fleetApp struct {
	name      string
	taskTypes []string
	models    []modelSpec
}

// task is one agent run or conversation in progress.
type task struct {
	tenant, id, app, taskType string
	model                     modelSpec
	left, done                int // requests left, requests made
	context                   int64
}

// generator produces the event sequence deterministically from the seed.
type generator struct {
	cfg     Config
	rng     *rand.Rand
	active  []*task
	nextID  int
	eventNo int
	weights float64
	start   time.Time
	fleet   [][]fleetApp // tenant index -> its apps (DimsRealistic only)
}

func newGenerator(cfg Config, start time.Time) *generator {
	g := &generator{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)), start: start}
	for _, m := range models {
		g.weights += m.weight
	}
	if cfg.Dims == DimsRealistic {
		g.fleet = newFleet(cfg, g.weights)
	}
	for range cfg.Concurrency {
		g.active = append(g.active, g.newTask())
	}
	return g
}

// newFleet draws each tenant's apps and each app's models from a generator
// of its own, so that the traffic's draws do not depend on it.
func newFleet(cfg Config, weights float64) [][]fleetApp {
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x3c6ef372fe94f82b))
	fleet := make([][]fleetApp, cfg.Tenants)
	for t := range fleet {
		for _, a := range rng.Perm(len(apps))[:1+rng.IntN(3)] {
			app := fleetApp{name: apps[a], taskTypes: appTaskTypes[apps[a]]}
			for n := 1 + rng.IntN(3); len(app.models) < n; {
				if m := pickModel(rng, weights); !slices.Contains(app.models, m) {
					app.models = append(app.models, m)
				}
			}
			fleet[t] = append(fleet[t], app)
		}
	}
	return fleet
}

func (g *generator) pickModel() modelSpec { return pickModel(g.rng, g.weights) }

func pickModel(rng *rand.Rand, weights float64) modelSpec {
	x := rng.Float64() * weights
	for _, m := range models {
		if x -= m.weight; x < 0 {
			return m
		}
	}
	return models[len(models)-1]
}

func (g *generator) newTask() *task {
	g.nextID++
	id := fmt.Sprintf("task-%d-%d", g.cfg.Seed, g.nextID)
	if g.fleet != nil {
		ti := g.tenantIndex()
		apps := g.fleet[ti]
		app := apps[g.rng.IntN(len(apps))]
		tt := app.taskTypes[g.rng.IntN(len(app.taskTypes))]
		return &task{tenant: fmt.Sprintf("tenant-%02d", ti), id: id, app: app.name, taskType: tt,
			model: app.models[g.rng.IntN(len(app.models))], left: g.taskLength(tt), context: 500 + g.rng.Int64N(8000)}
	}
	tt := taskTypes[g.rng.IntN(len(taskTypes))]
	length := g.taskLength(tt)
	return &task{
		tenant: fmt.Sprintf("tenant-%02d", g.tenantIndex()), id: id, app: apps[g.rng.IntN(len(apps))],
		taskType: tt, model: g.pickModel(), left: length, context: 500 + g.rng.Int64N(8000),
	}
}

func (g *generator) taskLength(taskType string) int {
	switch taskType {
	case "agent-run":
		return 1 + int(g.rng.ExpFloat64()*25) // long tail of long agent runs
	case "code-review", "rag-answer":
		return 1 + g.rng.IntN(6)
	case "chat-turn":
		return 1 + g.rng.IntN(3)
	}
	return 1
}

// tenantIndex draws a tenant with a skewed popularity, as real customers
// have.
func (g *generator) tenantIndex() int {
	return int(math.Min(float64(g.cfg.Tenants-1), g.rng.ExpFloat64()*float64(g.cfg.Tenants)/3))
}

// next returns the next valid event, its time offset by the elapsed wall
// time since start unless it is a late or too-old event.
func (g *generator) next(now time.Time) (ev schemas.Event, kind eventKind) {
	i := g.rng.IntN(len(g.active))
	t := g.active[i]
	g.eventNo++
	ev = schemas.Event{
		EventID: fmt.Sprintf("ev-%d-%d", g.cfg.Seed, g.eventNo), Time: now.UTC().Truncate(time.Millisecond),
		Tenant: t.tenant, TaskID: t.id, TaskType: t.taskType, App: t.app,
		Provider: t.model.provider, Model: t.model.model,
		LatencyMs: 200 + g.rng.Int64N(4000),
	}
	g.usage(t, &ev)
	t.done++
	t.left--
	if t.left == 0 {
		ev.TaskDone = true
		g.active[i] = g.newTask()
	}
	if g.cfg.Spread > 0 {
		ev.Time = ev.Time.Add(-time.Duration(g.rng.Int64N(int64(g.cfg.Spread)))).Truncate(time.Millisecond)
	}
	switch x := g.rng.Float64(); {
	case x < g.cfg.TooOldRatio:
		ev.Time = ev.Time.Add(-g.cfg.TooOldBy)
		kind = kindTooOld
	case x < g.cfg.TooOldRatio+g.cfg.LateRatio:
		ev.Time = ev.Time.Add(-time.Duration(g.rng.Int64N(int64(g.cfg.LateBy) + 1)))
		kind = kindLate
	}
	return ev, kind
}

type eventKind int

const (
	kindNormal eventKind = iota
	kindLate
	kindTooOld
)

// usage draws realistic token counts: the context grows with each request
// of a task, later requests read it from cache, reasoning models think.
func (g *generator) usage(t *task, ev *schemas.Event) {
	u := &ev.Usage
	prompt := 200 + g.rng.Int64N(3000)
	u.InputTokens = t.context + prompt
	if t.done > 0 && g.rng.Float64() < 0.8 {
		u.CacheReadTokens = t.context * int64(70+g.rng.IntN(30)) / 100
	}
	if t.model.caching && g.rng.Float64() < 0.5 {
		u.CacheWriteTokens = min(prompt, u.InputTokens-u.CacheReadTokens)
		if g.rng.Float64() < 0.3 {
			u.CacheWrite1hTokens = u.CacheWriteTokens / 2
		}
	}
	u.OutputTokens = 50 + int64(g.rng.ExpFloat64()*600)
	if t.model.reasoning {
		u.ReasoningTokens = int64(g.rng.ExpFloat64() * 3000)
		u.OutputTokens += u.ReasoningTokens
	}
	if g.rng.Float64() < 0.02 {
		ev.Status = schemas.StatusError
		u.OutputTokens, u.ReasoningTokens = 0, 0
	}
	t.context = min(t.context+prompt+u.OutputTokens, 200_000)
}

// badMessage returns a malformed message of one of the kinds the
// aggregator must dead-letter.
func (g *generator) badMessage(now time.Time) (key, value []byte) {
	n := g.rng.IntN(5)
	key = []byte(fmt.Sprintf("tenant-bad/%d", g.rng.IntN(100)))
	ts := now.UTC().Format(time.RFC3339Nano)
	switch n {
	case 0:
		value = []byte(`{"event_id":"broken`)
	case 1:
		value = []byte(`not json at all`)
	case 2:
		value = []byte(fmt.Sprintf(`{"event_id":"bad-%d","time":"%s","tenant":"t","provider":"openai","model":"gpt-4o","prompt":"leaked"}`, g.rng.Int64(), ts))
	case 3:
		value = []byte(fmt.Sprintf(`{"event_id":"bad-%d","time":"%s","tenant":"t","provider":"openai","model":"gpt-4o","usage":{"input_tokens":10,"cache_read_tokens":20}}`, g.rng.Int64(), ts))
	default:
		value = []byte(fmt.Sprintf(`{"event_id":"bad-%d","time":"%s","tenant":"has space","model":"gpt-4o"}`, g.rng.Int64(), ts))
	}
	return key, value
}
