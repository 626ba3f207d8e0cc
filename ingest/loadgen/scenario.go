package loadgen

import (
	"context"
	_ "embed"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/schemas"
)

// ScenarioPrices is the dated price overlay of the story scenario's models
// (jevons-prices.yaml): every price per token steps down on the first of
// each month of 2026. The aggregator must load the same file (--catalog).
//
//go:embed jevons-prices.yaml
var ScenarioPrices []byte

// ScenarioPricesFile is the overlay's path in the repository.
const ScenarioPricesFile = "ingest/loadgen/jevons-prices.yaml"

// Scenario shapes the story: months of history from Start where the price
// per token of each model falls every month while tasks per day and tokens
// per task grow.
type Scenario struct {
	Seed        uint64
	Start       time.Time // a UTC date; default 2026-01-01, where the overlay's prices begin
	Months      int       // default 6
	TasksPerDay int       // tasks on the first day, default 40
	TaskGrowth  float64   // tasks per day multiply by this each month, default 1.35
}

// DefaultScenario returns the defaults.
func DefaultScenario() Scenario {
	return Scenario{Seed: 1, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Months: 6, TasksPerDay: 40, TaskGrowth: 1.35}
}

// Validate reports every problem at once.
func (s Scenario) Validate() error {
	var errs []string
	if s.Months < 1 || s.Months > 24 {
		errs = append(errs, fmt.Sprintf("months must be within 1..24, got %d", s.Months))
	}
	if s.TasksPerDay < 1 {
		errs = append(errs, fmt.Sprintf("tasks per day must be >= 1, got %d", s.TasksPerDay))
	}
	if s.TaskGrowth < 0.1 || s.TaskGrowth > 10 || math.IsNaN(s.TaskGrowth) {
		errs = append(errs, fmt.Sprintf("task growth must be within 0.1..10, got %v", s.TaskGrowth))
	}
	if !s.Start.Equal(s.Start.UTC().Truncate(24 * time.Hour)) {
		errs = append(errs, "start must be a UTC date")
	}
	if len(errs) > 0 {
		return fmt.Errorf("scenario: %v", errs)
	}
	return nil
}

const scenarioProvider = "jevons-demo"

var scenarioTenants = []string{"acme", "globex", "initech"}

// RunScenario sends the story to sink in event-time order and returns the
// truth, with per-day totals and tasks. cat gets the scenario's overlay.
func RunScenario(ctx context.Context, s Scenario, sink Sink, cat *pricing.Catalog, refDate time.Time) (*Truth, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := cat.AddOverlay("jevons-prices.yaml", ScenarioPrices); err != nil {
		return nil, fmt.Errorf("scenario prices: %w", err)
	}
	rng := rand.New(rand.NewPCG(s.Seed, s.Seed^0x6a09e667f3bcc909))
	truth := newTruth(s.Seed, cat, refDate)
	end := s.Start.AddDate(0, s.Months, 0)
	taskNo, eventNo := 0, 0
	for day := s.Start; day.Before(end); day = day.AddDate(0, 0, 1) {
		month := day.Sub(s.Start).Hours() / 24 / 30.4
		n := int(math.Round(float64(s.TasksPerDay) * math.Pow(s.TaskGrowth, month) * (0.9 + 0.2*rng.Float64())))
		var evs []schemas.Event
		for range n {
			taskNo++
			evs = append(evs, storyTask(rng, day, month, s.Seed, taskNo, &eventNo)...)
		}
		sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.Before(evs[j].Time) })
		seen := map[string]bool{}
		for i := range evs {
			ev := &evs[i]
			if err := ctx.Err(); err != nil {
				return truth, err
			}
			if err := sink.Emit(ctx, ev); err != nil {
				return truth, fmt.Errorf("emit %s: %w", ev.EventID, err)
			}
			truth.Messages++
			if err := truth.add(ev); err != nil {
				return truth, err
			}
			truth.addDay(ev, !seen[ev.Key()])
			seen[ev.Key()] = true
		}
	}
	return truth, nil
}

// storyTask makes one task's requests within its day. Later months bring
// longer agent runs with bigger contexts and more output, and a reasoning
// model from March: tokens per task grow as the price per token falls.
func storyTask(rng *rand.Rand, day time.Time, month float64, seed uint64, taskNo int, eventNo *int) []schemas.Event {
	tenant := scenarioTenants[min(len(scenarioTenants)-1, int(rng.ExpFloat64()))]
	var taskType, app, model string
	var requests int
	x := rng.Float64()
	switch {
	case x < 0.45:
		taskType, app = "agent-run", "coding-agent"
		requests = 2 + int(month*1.5) + int(rng.ExpFloat64()*(2+month))
		model = pick(rng, day, []string{"frontier", "reasoner", "mini"}, []float64{0.6, 0.25, 0.15})
	case x < 0.85:
		taskType, app = "chat-turn", "assistant"
		requests = 1 + rng.IntN(3)
		model = pick(rng, day, []string{"mini", "frontier"}, []float64{0.7, 0.3})
	default:
		taskType, app = "code-review", "review-bot"
		requests = 2 + rng.IntN(3) + int(month/2)
		model = pick(rng, day, []string{"frontier", "in-house-7b"}, []float64{0.85, 0.15}) // in-house: no price
	}
	requests = min(requests, 60)
	id := fmt.Sprintf("story-%d-%d", seed, taskNo)
	at := day.Add(time.Duration(rng.Int64N(int64(20 * time.Hour)))).Truncate(time.Millisecond)
	ctxTokens := int64(1500 * (1 + month*0.6))
	out := make([]schemas.Event, 0, requests)
	for r := range requests {
		*eventNo++
		ev := schemas.Event{
			EventID: fmt.Sprintf("story-%d-ev-%d", seed, *eventNo), Time: at, Tenant: tenant, TaskID: id,
			TaskType: taskType, App: app, Provider: scenarioProvider, Model: model, LatencyMs: 300 + rng.Int64N(5000),
			TaskDone: r == requests-1,
		}
		u := &ev.Usage
		prompt := 200 + rng.Int64N(1500)
		u.InputTokens = ctxTokens + prompt
		if r > 0 {
			u.CacheReadTokens = ctxTokens * 8 / 10
		}
		u.OutputTokens = 150 + int64(rng.ExpFloat64()*400*(1+month*0.3))
		if model == "reasoner" {
			u.ReasoningTokens = int64(rng.ExpFloat64() * 2000 * (1 + month*0.3))
			u.OutputTokens += u.ReasoningTokens
		}
		ctxTokens = min(ctxTokens+prompt+u.OutputTokens, 180_000)
		out = append(out, ev)
		at = at.Add(time.Duration(5000+rng.Int64N(85_000)) * time.Millisecond)
	}
	return out
}

// pick draws a model by weight; the reasoning model exists from March 2026.
func pick(rng *rand.Rand, day time.Time, names []string, weights []float64) string {
	var total float64
	for i, n := range names {
		if n == "reasoner" && day.Before(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) {
			weights[i] = 0
		}
		total += weights[i]
	}
	x := rng.Float64() * total
	for i, w := range weights {
		if x -= w; x < 0 {
			return names[i]
		}
	}
	return names[len(names)-1]
}
