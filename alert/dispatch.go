package alert

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/jevonsdev/jevons/alert/notify"
)

// Job is one notification bound for its rule's channels, with what the
// history row records besides the payload.
type Job struct {
	N         notify.Notification `json:"notification"`
	Channels  []string            `json:"channels"`
	Owner     string              `json:"owner"`
	GroupKey  string              `json:"group_key"`
	Value     float64             `json:"value"`
	Threshold float64             `json:"threshold"`
	History   string              `json:"history"` // the state change recorded: firing, repeat, resolved

	queued time.Time
}

// DispatchConfig tunes delivery.
type DispatchConfig struct {
	Queue       int           // bounded queue; a full queue drops and counts, default 10,000
	Workers     int           // concurrent deliveries, default 4
	Attempts    int           // per channel, default 6
	Backoff     time.Duration // first retry delay, doubled each time, default 500ms
	MaxBackoff  time.Duration // default 30s
	Timeout     time.Duration // per attempt, default 10s
	DrainOnStop time.Duration // time to deliver what is queued on shutdown, default 5s
}

// DefaultDispatchConfig returns the defaults.
func DefaultDispatchConfig() DispatchConfig {
	return DispatchConfig{Queue: 10_000, Workers: 4, Attempts: 6, Backoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second,
		Timeout: 10 * time.Second, DrainOnStop: 5 * time.Second}
}

// Dispatcher delivers jobs off the caller's goroutine: Enqueue never
// blocks. Each job is stored in the outbox before it is sent and marked
// done after, so a restart re-sends what was not delivered, with the same
// idempotency key, and skips what was.
type Dispatcher struct {
	cfg      DispatchConfig
	store    *Store
	channels map[string]notify.Notifier
	m        *Metrics
	log      *zap.Logger
	q        chan *Job
	mu       sync.Mutex
	busy     map[string]bool // (key, state, seq) being delivered by this process

	// Delivered, if set, is called after each job's channels were attempted.
	Delivered func(j *Job, notified []string)
}

// NewDispatcher builds the channels of set.
func NewDispatcher(cfg DispatchConfig, set *Set, store *Store, m *Metrics, log *zap.Logger) (*Dispatcher, error) {
	chans, err := BuildChannels(set.Channels, log)
	if err != nil {
		return nil, err
	}
	return &Dispatcher{cfg: cfg, store: store, channels: chans, m: m, log: log.Named("dispatch"), q: make(chan *Job, cfg.Queue), busy: map[string]bool{}}, nil
}

// BuildChannels turns channel configs into notifiers, reading URLs and
// secrets from the environment where configured.
func BuildChannels(cfgs map[string]*Channel, log *zap.Logger) (map[string]notify.Notifier, error) {
	out := map[string]notify.Notifier{}
	var errs []error
	client := &http.Client{}
	for name, c := range cfgs {
		url := c.URL
		if c.URLEnv != "" {
			url = os.Getenv(c.URLEnv)
			if url == "" {
				errs = append(errs, fmt.Errorf("channel %q: url_env %s is empty", name, c.URLEnv))
				continue
			}
		}
		switch c.Type {
		case "webhook":
			w := &notify.Webhook{URL: url, Headers: c.Headers, Client: client}
			if c.SecretEnv != "" {
				s := os.Getenv(c.SecretEnv)
				if s == "" {
					errs = append(errs, fmt.Errorf("channel %q: secret_env %s is empty", name, c.SecretEnv))
				}
				w.Secret = []byte(s)
			}
			out[name] = w
		case "slack":
			out[name] = &notify.Slack{URL: url, Client: client}
		case "alertmanager":
			out[name] = &notify.Alertmanager{URL: url, Resend: time.Duration(c.Resend), Client: client, Log: log.Named("alertmanager")}
		}
	}
	return out, errors.Join(errs...)
}

// Enqueue hands a job to the workers; it never blocks and reports false
// (counted) when the queue is full.
func (d *Dispatcher) Enqueue(j Job) bool {
	j.queued = time.Now()
	select {
	case d.q <- &j:
		return true
	default:
		d.m.Dropped.Inc()
		return false
	}
}

// Run delivers until ctx ends, then drains the queue for DrainOnStop.
// Alertmanager channels re-send their firing alerts meanwhile.
func (d *Dispatcher) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(context.Background())
	for _, c := range d.channels {
		if am, ok := c.(*notify.Alertmanager); ok {
			g.Go(func() error { return am.Run(ctx) })
		}
	}
	drain, cancelDrain := context.WithCancel(gctx)
	defer cancelDrain()
	var wg sync.WaitGroup
	for range max(d.cfg.Workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case j := <-d.q:
					d.deliver(drain, j)
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	<-ctx.Done()
	wg.Wait()
	timer := time.AfterFunc(d.cfg.DrainOnStop, cancelDrain)
	defer timer.Stop()
	for {
		select {
		case j := <-d.q:
			if drain.Err() != nil {
				return g.Wait()
			}
			d.deliver(drain, j)
		default:
			return g.Wait()
		}
	}
}

// Resume re-queues the owner's undelivered outbox rows.
func (d *Dispatcher) Resume(ctx context.Context, owner string) (int, error) {
	jobs, err := d.store.Undelivered(ctx, owner)
	if err != nil {
		return 0, err
	}
	for _, j := range jobs {
		d.Enqueue(j)
	}
	return len(jobs), nil
}

func (d *Dispatcher) deliver(ctx context.Context, j *Job) {
	n := &j.N
	id := n.Key + "\x00" + n.State + "\x00" + strconv.Itoa(n.Repeat)
	d.mu.Lock()
	if d.busy[id] {
		d.mu.Unlock()
		d.m.Deduped.Inc()
		return
	}
	d.busy[id] = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.busy, id)
		d.mu.Unlock()
	}()
	var done, known bool
	err := d.retryStore(ctx, "read outbox", func(ctx context.Context) (err error) {
		done, known, err = d.store.Delivered(ctx, n.Key, n.State, uint32(n.Repeat))
		return err
	})
	if err != nil {
		return
	}
	if done {
		d.m.Deduped.Inc()
		d.keepalive(ctx, j)
		return
	}
	if !known {
		if err := d.retryStore(ctx, "write outbox", func(ctx context.Context) error { return d.store.PutOutbox(ctx, j, false) }); err != nil {
			return
		}
	}
	var notified, failed []string
	for _, name := range j.Channels {
		if d.send(ctx, name, n) {
			notified = append(notified, name)
		} else {
			failed = append(failed, name)
		}
	}
	d.m.Latency.Observe(time.Since(j.queued).Seconds())
	if d.Delivered != nil {
		d.Delivered(j, notified)
	}
	_ = d.retryStore(ctx, "write outbox", func(ctx context.Context) error { return d.store.PutOutbox(ctx, j, true) })
	_ = d.retryStore(ctx, "write alert history", func(ctx context.Context) error { return d.store.WriteHistory(ctx, j, j.History, notified, failed) })
}

// keepalive hands a firing notification already delivered (before a
// restart) to the Alertmanager channels again, so that they re-send it
// while it fires instead of letting Alertmanager time it out.
func (d *Dispatcher) keepalive(ctx context.Context, j *Job) {
	if j.N.State != notify.Firing {
		return
	}
	for _, name := range j.Channels {
		if am, ok := d.channels[name].(*notify.Alertmanager); ok {
			actx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
			if err := am.Notify(actx, j.N); err != nil {
				d.log.Debug("alertmanager keepalive failed; the re-send loop retries", zap.Error(err))
			}
			cancel()
		}
	}
}

// send delivers to one channel, retrying transient failures with
// exponential backoff; it reports success.
func (d *Dispatcher) send(ctx context.Context, name string, n *notify.Notification) bool {
	c := d.channels[name]
	if c == nil {
		d.m.Failed.WithLabelValues(name).Inc()
		return false
	}
	backoff := d.cfg.Backoff
	for attempt := 1; ; attempt++ {
		n.SentAt = time.Now().UTC()
		actx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
		err := c.Notify(actx, *n)
		cancel()
		if err == nil {
			d.m.Sent.WithLabelValues(name).Inc()
			return true
		}
		if notify.IsPermanent(err) || attempt >= d.cfg.Attempts || ctx.Err() != nil {
			d.m.Failed.WithLabelValues(name).Inc()
			d.log.Warn("notification not delivered", zap.String("channel", name), zap.String("rule", n.Rule),
				zap.String("key", n.Key), zap.Int("attempts", attempt), zap.Bool("permanent", notify.IsPermanent(err)), zap.Error(err))
			return false
		}
		d.m.Retried.WithLabelValues(name).Inc()
		select {
		case <-ctx.Done():
		case <-time.After(backoff/2 + time.Duration(rand.Int64N(int64(backoff)))):
		}
		backoff = min(2*backoff, d.cfg.MaxBackoff)
	}
}

// retryStore retries a ClickHouse call until it succeeds or ctx ends.
func (d *Dispatcher) retryStore(ctx context.Context, what string, f func(context.Context) error) error {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := f(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		if attempt == 1 || attempt%10 == 0 {
			d.log.Warn(what+" failed; retrying", zap.Int("attempt", attempt), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
