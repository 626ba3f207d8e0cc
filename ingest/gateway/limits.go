package gateway

import (
	"math"
	"sync"
	"time"
)

// buckets is a token bucket per tenant: rate events/s, burst capacity.
type buckets struct {
	rate  float64
	burst float64
	mu    sync.Mutex
	m     map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newBuckets(rate float64, burst int) *buckets {
	return &buckets{rate: rate, burst: float64(burst), m: map[string]*bucket{}}
}

// take removes n tokens from tenant's bucket if it holds them; otherwise it
// takes none and says how long until it will.
func (b *buckets) take(tenant string, n int, now time.Time) (ok bool, retryAfter time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := b.m[tenant]
	if bk == nil {
		bk = &bucket{tokens: b.burst, last: now}
		b.m[tenant] = bk
	}
	if el := now.Sub(bk.last).Seconds(); el > 0 {
		bk.tokens = math.Min(b.burst, bk.tokens+el*b.rate)
		bk.last = now
	}
	need := float64(n)
	if need <= bk.tokens {
		bk.tokens -= need
		return true, 0
	}
	if need > b.burst {
		return false, -1 // never: the caller reports the request as too large
	}
	wait := time.Duration((need - bk.tokens) / b.rate * float64(time.Second))
	return false, wait
}

// cardinality caps the distinct (app, task_type, model) values a tenant
// creates per UTC day. Each gateway instance keeps its own sets in memory;
// with N instances a tenant can reach N times the cap at most.
type cardinality struct {
	max int
	mu  sync.Mutex
	m   map[string]*daySet
}

type daySet struct {
	day  int64
	seen map[string]struct{}
}

func newCardinality(max int) *cardinality {
	return &cardinality{max: max, m: map[string]*daySet{}}
}

// Other is what app and task_type become beyond the cardinality cap.
const Other = "other"

// admit reports whether (app, taskType, model) may keep its names for
// tenant today. Beyond the cap app and task_type become Other and the
// model is kept, so the event is still priced and counted.
func (c *cardinality) admit(tenant, app, taskType, model string, t time.Time) bool {
	day := t.UTC().Unix() / 86400
	key := app + "\x00" + taskType + "\x00" + model
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.m[tenant]
	if s == nil || s.day != day {
		s = &daySet{day: day, seen: map[string]struct{}{}}
		c.m[tenant] = s
	}
	if _, ok := s.seen[key]; ok {
		return true
	}
	if len(s.seen) >= c.max {
		return false
	}
	s.seen[key] = struct{}{}
	return true
}
