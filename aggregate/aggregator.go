package aggregate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/jevonsdev/jevons/internal/topics"
	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/secure"
	"github.com/jevonsdev/jevons/sink"
)

// Aggregator is the `jevons aggregate` service.
type Aggregator struct {
	cfg   Config
	sec   *secure.Kafka
	log   *zap.Logger
	cat   *pricing.Catalog
	m     *metrics
	store *sink.Store
	dlq   *kafka.Writer
	ready atomic.Bool
	stop  context.CancelCauseFunc // ends Run with an error of its own
	parts int                     // input partitions at the last generation

	// Listening, if set, receives the HTTP address once it listens.
	Listening func(addr string)
}

// New validates the config and loads the price catalog; it does no I/O
// against Kafka or ClickHouse.
func New(cfg Config, log *zap.Logger) (*Aggregator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("aggregate config: %w", err)
	}
	cat, err := pricing.Load(cfg.Catalogs...)
	if err != nil {
		return nil, err
	}
	sec, err := cfg.KafkaSecurity.Load()
	if err != nil {
		return nil, fmt.Errorf("aggregate config: %w", err)
	}
	a := &Aggregator{cfg: cfg, sec: sec, log: log.Named("aggregate"), cat: cat, m: newMetrics()}
	// Replicas that price with different catalogs (a rolling deploy of a
	// new one) write the states they own with different costs: /metrics
	// shows each replica's fingerprint, and each checkpoint records the one
	// its partition's costs were priced with (see restore).
	a.m.catalog.WithLabelValues(cat.Fingerprint()).Set(1)
	a.log.Info("price catalog", zap.String("fingerprint", cat.Fingerprint()), zap.Strings("overlays", cfg.Catalogs))
	return a, nil
}

// watchPartitions notes the input topic's partition count at each
// generation and reports a change loudly: keyed producers' retries of
// events sent before it may hash to another partition, where the duplicate
// set cannot see the original.
func (a *Aggregator) watchPartitions(ctx context.Context) {
	n, err := topics.Partitions(ctx, a.sec, a.cfg.Brokers, a.cfg.Topic)
	if err != nil {
		return
	}
	if a.parts != 0 && n != a.parts {
		a.m.partChanges.Inc()
		a.log.Error("the input topic's partition count changed: for the dedup horizon after the change, a retry of an event sent before it "+
			"may land in another partition and count twice; the dead-letter topic keeps its partition count, so source partitions now share DLQ partitions",
			zap.Int("from", a.parts), zap.Int("to", n), zap.Duration("dedup_horizon", a.cfg.DedupHorizon))
	}
	a.parts = n
	a.m.partitions.Set(float64(n))
}

// Run consumes until ctx ends, then flushes what it owns and returns nil;
// or until a partition cannot continue exactly, then returns why.
func (a *Aggregator) Run(ctx context.Context) (err error) {
	ctx, a.stop = context.WithCancelCause(ctx)
	defer func() {
		if cause := context.Cause(ctx); errors.Is(cause, errNoCheckpoint) {
			err = errors.Join(err, cause)
		}
		a.stop(nil)
	}()
	a.log.Info("starting", zap.Strings("brokers", a.cfg.Brokers), zap.String("topic", a.cfg.Topic),
		zap.String("group", a.cfg.Group), zap.String("clickhouse", a.cfg.ClickHouse.Addr), zap.String("database", a.cfg.ClickHouse.Database))
	if a.cfg.MemoryLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		// A soft limit makes the collector work harder near it instead of
		// letting the heap double; states, the duplicate set and in-flight
		// batches stay bounded by MaxDirty and the horizons.
		debug.SetMemoryLimit(runtimeMemoryLimit(a.cfg.MemoryLimit))
	}
	conn, cerr := a.connect(ctx)
	if cerr != nil {
		return cerr
	}
	defer conn.Close()
	a.store = sink.NewStore(conn, a.cfg.ClickHouse.Database, a.log.Named("sink"))
	a.store.OnInsert = a.m.observeInsert
	a.store.OnError = func(error) { a.m.chErrors.Inc() }
	defer a.store.Close()

	if err := a.ensureDLQ(ctx); err != nil {
		return err
	}
	a.checkTimestamps(ctx)
	// One attempt per write: writeDeadLetters retries, reading the DLQ back
	// first. The writer's own retries re-sent a chunk whose first send had
	// landed: with a follower frozen, an acks=all write waits until the
	// leader drops it from the ISR (replica.lag.time.max.ms, 30 s by
	// default), so a shorter timeout gave up on a write that was committed
	// later, and the retry wrote it again. The timeout outlasts that wait.
	a.dlq = &kafka.Writer{
		Addr: kafka.TCP(a.cfg.Brokers...), Topic: a.cfg.DLQTopic, Balancer: kafka.BalancerFunc(bySourcePartition),
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, MaxAttempts: 1, WriteTimeout: dlqWriteTimeout,
		Transport: a.sec.Transport(10 * time.Second), // fresh metadata: the DLQ may be new
	}
	defer a.dlq.Close()

	g, gctx := errgroup.WithContext(ctx)
	if a.cfg.HTTPAddr != "" {
		srv, ln, err := a.httpServer()
		if err != nil {
			return err
		}
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
	}
	if a.cfg.MemoryLimit > 0 && os.Getenv("GOMEMLIMIT") == "" { // the flag's limit is in force
		g.Go(func() error { watchGC(gctx, a.log, a.cfg.MemoryLimit, gcWatchEvery); return nil })
	}
	g.Go(func() error { return a.consume(gctx) })
	err = g.Wait()
	a.log.Info("stopped", zap.Error(err))
	return err
}

// fail stops the aggregator with err as the reason Run returns.
func (a *Aggregator) fail(err error) {
	if a.stop != nil {
		a.stop(err)
	}
}

// connect opens ClickHouse and applies migrations, retrying while the
// server is unreachable.
func (a *Aggregator) connect(ctx context.Context) (driver.Conn, error) {
	migs, err := sink.LoadMigrations(schemas.ClickHouse, "clickhouse")
	if err != nil {
		return nil, err
	}
	var conn driver.Conn
	err = retry(ctx, a.log, "connect to clickhouse", func(ctx context.Context) error {
		c, err := sink.Open(ctx, a.cfg.ClickHouse)
		if err != nil {
			return err
		}
		if _, err := sink.MigrateCluster(ctx, c, a.cfg.ClickHouse.Database, a.cfg.ClickHouse.Cluster, migs, a.log.Named("migrate")); err != nil {
			c.Close()
			return err
		}
		conn = c
		return nil
	})
	return conn, err
}

// ensureDLQ creates the dead-letter topic with the input topic's partition
// count, so that each source partition's dead letters keep to one partition.
func (a *Aggregator) ensureDLQ(ctx context.Context) error {
	return retry(ctx, a.log, "ensure dead-letter topic", func(ctx context.Context) error {
		n, err := topics.Partitions(ctx, a.sec, a.cfg.Brokers, a.cfg.Topic)
		if err != nil {
			return err
		}
		return topics.Ensure(ctx, a.sec, a.cfg.Brokers, a.cfg.DLQTopic, n, -1) // -1: the broker's default replication
	})
}

// checkTimestamps reports what bounds the message timestamps of the input
// topic. The max-future check compares event time with the message time;
// only when the broker sets or bounds the message time does one host's
// skewed clock stay unable to move a partition's event-time clock ahead.
func (a *Aggregator) checkTimestamps(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	bound, typ, err := topics.TimestampBound(cctx, a.sec, a.cfg.Brokers, a.cfg.Topic)
	switch {
	case err != nil:
		a.log.Warn("could not read the input topic's timestamp settings; message times are trusted as sent", zap.Error(err))
		a.m.clockAllowance.Set(-1)
	case bound < 0:
		a.log.Error("the input topic does not bound producer timestamps: one producer's skewed clock can move a partition's event-time clock ahead; "+
			"set message.timestamp.type=CreateTime and message.timestamp.after.max.ms on the topic (Jevons creates topics with 5 minutes)",
			zap.String("message.timestamp.type", typ))
		a.m.clockAllowance.Set(-1)
	default:
		a.log.Info("the broker bounds producer timestamps: event time can run ahead of the broker's clock by at most this plus max-future",
			zap.Duration("message.timestamp.after.max", bound), zap.Duration("max-future", a.cfg.MaxFuture))
		a.m.clockAllowance.Set(bound.Seconds())
	}
}

func (a *Aggregator) httpServer() (*http.Server, net.Listener, error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(a.m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !a.ready.Load() {
			http.Error(w, "not ready: no consumer group generation yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen %s: %w", a.cfg.HTTPAddr, err)
	}
	if a.Listening != nil {
		a.Listening(ln.Addr().String())
	}
	return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln, nil
}

// consume runs consumer group generations until ctx ends. Each assigned
// partition runs in its own goroutine, which flushes what it owns before the
// generation ends: kafka-go does not rejoin until every one has returned.
func (a *Aggregator) consume(ctx context.Context) error {
	errLog := a.log.Named("kafka")
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: a.cfg.Group, Brokers: a.cfg.Brokers, Topics: []string{a.cfg.Topic},
		StartOffset: kafka.FirstOffset, SessionTimeout: a.cfg.SessionTimeout, Dialer: a.sec.Dialer(10 * time.Second),
		// A member rejoins only after its partitions' final flushes, which may
		// take the shutdown timeout: the rebalance waits for them, so a new
		// owner never reads a checkpoint or DLQ tail the old one is still writing.
		RebalanceTimeout:  a.cfg.ShutdownTimeout + a.cfg.SessionTimeout,
		HeartbeatInterval: a.cfg.SessionTimeout / 5, JoinGroupBackoff: time.Second, WatchPartitionChanges: true,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) { errLog.Warn(fmt.Sprintf(msg, args...)) }),
	})
	if err != nil {
		return fmt.Errorf("consumer group: %w", err)
	}
	defer func() {
		if err := group.Close(); err != nil {
			a.log.Warn("close consumer group", zap.Error(err))
		}
	}()
	for {
		gen, err := group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			a.log.Warn("consumer group generation failed; retrying", zap.Error(err))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		a.ready.Store(true)
		a.watchPartitions(ctx)
		var ids []int
		for _, as := range gen.Assignments[a.cfg.Topic] {
			ids = append(ids, as.ID)
			gen.Start(func(gctx context.Context) { a.runPartition(gctx, gen, as) })
		}
		a.log.Info("generation joined", zap.Int32("generation", gen.ID), zap.Ints("partitions", ids))
	}
}

// retry calls f until it succeeds or ctx ends, backing off with jitter.
func retry(ctx context.Context, log *zap.Logger, what string, f func(context.Context) error) error {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := f(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, errors.Join(ctx.Err(), err))
		}
		if attempt == 1 || attempt%10 == 0 {
			log.Warn(what+" failed; retrying", zap.Int("attempt", attempt), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, errors.Join(ctx.Err(), err))
		case <-time.After(backoff/2 + time.Duration(rand.Int64N(int64(backoff)))):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// bySourcePartition sends a dead letter to the DLQ partition of its source
// partition, so a restart finds the last one written with one short read.
func bySourcePartition(msg kafka.Message, partitions ...int) int {
	for _, h := range msg.Headers {
		if h.Key == "jevons-src-partition" {
			if p, err := strconv.Atoi(string(h.Value)); err == nil && len(partitions) > 0 {
				return partitions[p%len(partitions)]
			}
		}
	}
	return partitions[0]
}

// runtimeMemoryLimit is the Go runtime's share of the memory limit: the
// resident set also holds what the runtime does not count (the binary's
// code and static data, about 22 MiB measured), so the runtime is held
// an eighth of the limit below it, at least 24 MiB and at most 32 MiB (and
// at most half the limit): with the collector running at the limit, a
// small limit's eighth would not hold the binary.
func runtimeMemoryLimit(limit int64) int64 {
	return limit - min(max(limit/8, 24<<20), 32<<20, limit/2)
}
