package loadgen

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/schemas"
)

type collect struct{ evs []schemas.Event }

func (c *collect) Emit(_ context.Context, ev *schemas.Event) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	c.evs = append(c.evs, *ev)
	return nil
}
func (c *collect) EmitRaw(context.Context, []byte, []byte) error { return nil }

func runStory(t *testing.T, s Scenario) (*Truth, []schemas.Event) {
	t.Helper()
	cat, err := pricing.Load()
	if err != nil {
		t.Fatal(err)
	}
	var c collect
	truth, err := RunScenario(context.Background(), s, &c, cat, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return truth, c.evs
}

func TestScenarioTellsTheJevonsStory(t *testing.T) {
	s := DefaultScenario()
	s.Months, s.TasksPerDay = 4, 10
	truth, evs := runStory(t, s)
	for i := 1; i < len(evs); i++ {
		if evs[i].Time.Before(evs[i-1].Time) {
			t.Fatalf("event %d is earlier than the one before", i)
		}
	}
	// Days add up to the totals, tasks included.
	var sum Totals
	var tasks int64
	for d, v := range truth.ByDay {
		sum.add(v)
		tasks += truth.TasksByDay[d]
	}
	if sum != truth.Totals || tasks != int64(len(truth.Tasks)) || truth.Events != int64(len(evs)) {
		t.Fatalf("days sum to %+v and %d tasks; totals %+v, %d tasks", sum, tasks, truth.Totals, len(truth.Tasks))
	}
	month := func(prefix string) (tokens, cost int64, tasks int64) {
		for d, v := range truth.ByDay {
			if d[:7] == prefix {
				tokens += v.InputTokens + v.OutputTokens
			}
			if d[:7] == prefix {
				cost += v.CostNanos
				tasks += truth.TasksByDay[d]
			}
		}
		return
	}
	q0, c0, t0 := month("2026-01")
	q3, c3, t3 := month("2026-04")
	if !(c3 > c0 && q3 > 2*q0 && t3 > t0) {
		t.Errorf("spend %d -> %d, tokens %d -> %d, tasks %d -> %d: want all to grow", c0, c3, q0, q3, t0, t3)
	}
	if u0, u3 := float64(c0)/float64(q0), float64(c3)/float64(q3); u3 > u0*0.7 {
		t.Errorf("unit cost %v -> %v: want a steep fall", u0, u3)
	}
	if truth.Totals.UnpricedRequests == 0 {
		t.Error("no unpriced requests: the report's unpriced section would not be shown")
	}
}

func TestScenarioIsDeterministic(t *testing.T) {
	s := DefaultScenario()
	s.Months, s.TasksPerDay = 1, 5
	a, _ := runStory(t, s)
	b, _ := runStory(t, s)
	a.catalog, b.catalog = nil, nil
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave different truths")
	}
}

func TestScenarioRejectsBadShapes(t *testing.T) {
	s := DefaultScenario()
	s.Months, s.TasksPerDay, s.TaskGrowth = 0, 0, 0
	if err := s.Validate(); err == nil {
		t.Fatal("accepted zero months, tasks and growth")
	}
}
