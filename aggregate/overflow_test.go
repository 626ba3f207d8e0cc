package aggregate

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/jevonsdev/jevons/schemas"
)

// Schema-legal requests of about $30k each, all in one minute of one key:
// the states' Int64 cost would wrap negative after some 300,000 of them.
// Instead the events that would overflow are dead-lettered with a reason,
// and every state holds exactly the sum of the events counted.
func TestSumsThatWouldOverflowAreDeadLettered(t *testing.T) {
	p := activePartition()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var counted, costSum int64
	dead := 0
	for i := 0; i < 1_000_000 && dead < 100; i++ {
		ev := schemas.Event{EventID: fmt.Sprint(i), Time: at, Tenant: "t", TaskID: "big", Provider: "anthropic", Model: "claude-opus-4-6",
			Usage: schemas.Usage{InputTokens: schemas.MaxTokens, OutputTokens: schemas.MaxTokens, ReasoningTokens: schemas.MaxTokens}}
		m := kafka.Message{Offset: int64(i), Value: schemas.AppendJSON(nil, &ev), Time: at}
		switch o := p.process(&m); o {
		case outAggregated:
			counted++
		case outDeadLettered:
			dead++
		default:
			t.Fatalf("event %d: outcome %s", i, outcomeNames[o])
		}
	}
	if dead == 0 {
		t.Fatal("no event dead-lettered: the sums must have wrapped")
	}
	if r := p.dlq[0].reason; !strings.Contains(r, "maximum") {
		t.Fatalf("reason %q", r)
	}
	for i := range p.usage {
		for _, s := range p.usage[i].states {
			if s.sums.cost < 0 || s.sums.refCost < 0 || int64(s.sums.requests) != counted {
				t.Fatalf("%s state: cost %d, %d requests, %d counted", p.usage[i].table, s.sums.cost, s.sums.requests, counted)
			}
			costSum = s.sums.cost
		}
	}
	for _, s := range p.tasks {
		if s.sums.cost != costSum || int64(s.sums.requests) != counted {
			t.Fatalf("task state: cost %d (usage %d), %d requests", s.sums.cost, costSum, s.sums.requests)
		}
	}
	if costSum > math.MaxInt64 || costSum < math.MaxInt64/2 {
		t.Fatalf("cost %d: want close to the Int64 maximum", costSum)
	}
	t.Logf("%d events counted ($%d), %d dead-lettered", counted, costSum/1e9, dead)
}
