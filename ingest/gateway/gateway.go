package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/jevonsdev/jevons/ingest/otlp"
	"github.com/jevonsdev/jevons/schemas"
)

// Gateway serves the ingest endpoints.
type Gateway struct {
	cfg     Config
	log     *zap.Logger
	keys    *Keys
	prod    Producer
	buckets *buckets
	card    *cardinality
	mapper  *otlp.Mapper
	m       *metrics

	ready atomic.Bool // /readyz; see SetReady

	httpLn, grpcLn net.Listener
	httpSrv        *http.Server
	grpcSrv        *grpc.Server
}

// New validates cfg, loads the keys and binds the listeners; Run serves.
func New(cfg Config, prod Producer, log *zap.Logger) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	keys, err := OpenKeys(cfg.KeysFile)
	if err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, log: log.Named("gateway"), keys: keys, prod: prod,
		buckets: newBuckets(cfg.RatePerSec, cfg.RateBurst), card: newCardinality(cfg.MaxCardinality),
		mapper: otlp.New(cfg.OTLP), m: newMetrics()}
	g.ready.Store(true)
	var tlsCfg *tls.Config
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if g.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("listen http: %w", err)
	}
	if tlsCfg != nil {
		g.httpLn = tls.NewListener(g.httpLn, tlsCfg)
	}
	g.httpSrv = &http.Server{Handler: g.routes(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	if cfg.GRPCAddr != "" {
		if g.grpcLn, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
			g.httpLn.Close()
			return nil, fmt.Errorf("listen grpc: %w", err)
		}
		opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(int(cfg.MaxBodyBytes))}
		if tlsCfg != nil {
			opts = append(opts, grpc.Creds(credentials.NewTLS(tlsCfg)))
		}
		g.grpcSrv = grpc.NewServer(opts...)
		registerTraceService(g.grpcSrv, g)
	}
	return g, nil
}

// SetReady sets what /readyz answers (ready from New on): the command
// clears it until the Kafka topic is ensured.
func (g *Gateway) SetReady(ok bool) { g.ready.Store(ok) }

// HTTPAddr is the bound HTTP address.
func (g *Gateway) HTTPAddr() string { return g.httpLn.Addr().String() }

// GRPCAddr is the bound gRPC address, or "" when disabled.
func (g *Gateway) GRPCAddr() string {
	if g.grpcLn == nil {
		return ""
	}
	return g.grpcLn.Addr().String()
}

// Run serves until ctx ends, then drains: in-flight requests finish (and
// wait for Kafka) within ShutdownTimeout.
func (g *Gateway) Run(ctx context.Context) error {
	eg, ctx := errgroup.WithContext(ctx)
	g.log.Info("serving", zap.String("http", g.HTTPAddr()), zap.String("grpc", g.GRPCAddr()))
	eg.Go(func() error {
		if err := g.httpSrv.Serve(g.httpLn); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	if g.grpcSrv != nil {
		eg.Go(func() error {
			if err := g.grpcSrv.Serve(g.grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				return fmt.Errorf("grpc: %w", err)
			}
			return nil
		})
	}
	eg.Go(func() error { g.reloadKeys(ctx); return nil })
	eg.Go(func() error {
		<-ctx.Done()
		g.log.Info("draining in-flight requests")
		sctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
		defer cancel()
		if g.grpcSrv != nil {
			stopped := make(chan struct{})
			go func() { g.grpcSrv.GracefulStop(); close(stopped) }()
			select {
			case <-stopped:
			case <-sctx.Done():
				g.grpcSrv.Stop()
			}
		}
		if err := g.httpSrv.Shutdown(sctx); err != nil {
			return fmt.Errorf("http shutdown: %w", err)
		}
		return nil
	})
	err := eg.Wait()
	g.log.Info("stopped")
	return err
}

func (g *Gateway) reloadKeys(ctx context.Context) {
	t := time.NewTicker(g.cfg.KeysReload)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := g.keys.Reload()
		switch {
		case err != nil:
			g.m.keys.WithLabelValues("error").Inc()
			g.log.Error("keys file unreadable; keeping the keys loaded before", zap.Error(err))
		case changed:
			g.m.keys.WithLabelValues("reloaded").Inc()
			g.log.Info("keys reloaded")
		}
	}
}

// apiError is a request-level failure: its status code, message and,
// for 429 and 503, when to retry.
type apiError struct {
	Code       int
	Msg        string
	RetryAfter time.Duration
}

func (e *apiError) Error() string { return e.Msg }

func errorf(code int, format string, args ...any) *apiError {
	return &apiError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// retryAfterSeconds rounds up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// accept rate-limits, caps cardinality and produces evs (valid, tenant
// set); it returns which events were capped. Nothing is reported accepted
// unless Kafka acknowledged all of evs.
func (g *Gateway) accept(ctx context.Context, endpoint, tenant string, evs []*schemas.Event) ([]bool, *apiError) {
	if len(evs) == 0 {
		return nil, nil
	}
	now := g.cfg.Now()
	if ok, wait := g.buckets.take(tenant, len(evs), now); !ok {
		g.m.events.WithLabelValues(endpoint, "rate_limited").Add(float64(len(evs)))
		if wait < 0 {
			return nil, errorf(http.StatusRequestEntityTooLarge, "%d events exceed the tenant's rate burst of %d: split the request", len(evs), g.cfg.RateBurst)
		}
		return nil, &apiError{Code: http.StatusTooManyRequests, RetryAfter: wait,
			Msg: fmt.Sprintf("tenant %s is over its rate of %g events/s (burst %d): retry after %ds", tenant, g.cfg.RatePerSec, g.cfg.RateBurst, retryAfterSeconds(wait))}
	}
	capped := make([]bool, len(evs))
	msgs := make([]kafka.Message, len(evs))
	for i, ev := range evs {
		if !g.card.admit(tenant, ev.App, ev.TaskType, ev.Model, now) {
			ev.App, ev.TaskType, capped[i] = Other, Other, true
		}
		msgs[i] = kafka.Message{Key: []byte(ev.Key()), Value: schemas.AppendJSON(make([]byte, 0, 384), ev)}
	}
	pctx, cancel := context.WithTimeout(ctx, g.cfg.ProduceTimeout)
	defer cancel()
	start := time.Now()
	err := g.prod.Produce(pctx, msgs)
	g.m.produce.Observe(time.Since(start).Seconds())
	if err != nil {
		g.m.events.WithLabelValues(endpoint, "unavailable").Add(float64(len(evs)))
		g.log.Warn("produce failed; answering 503", zap.String("tenant", tenant), zap.Int("events", len(evs)), zap.Error(err))
		return nil, &apiError{Code: http.StatusServiceUnavailable, RetryAfter: g.cfg.RetryAfter,
			Msg: "Kafka did not acknowledge the events; none of this request is reported accepted: retry it unchanged (event ids make the retry count once)"}
	}
	n := 0
	for _, c := range capped {
		if c {
			n++
		}
	}
	g.m.events.WithLabelValues(endpoint, "accepted").Add(float64(len(evs)))
	g.m.events.WithLabelValues(endpoint, "capped").Add(float64(n))
	return capped, nil
}
