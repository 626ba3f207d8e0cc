package main

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/jevonsdev/jevons/aggregate"
	"github.com/jevonsdev/jevons/alert"
	"github.com/jevonsdev/jevons/sink"
)

// streamAlerts is runaway-task alerting inside `jevons aggregate`.
type streamAlerts struct {
	set     *alert.Set
	chCfg   sink.Config
	runaway *alert.Runaway
	disp    *alert.Dispatcher
	metrics *alert.Metrics
	closeCH func() error
}

func newStreamAlerts(files []string, group string, chCfg sink.Config, log *zap.Logger) (*streamAlerts, error) {
	set, err := alert.Load(files...)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := sink.Open(ctx, chCfg)
	if err != nil {
		return nil, fmt.Errorf("alerting: %w", err)
	}
	s := &streamAlerts{set: set, chCfg: chCfg, metrics: alert.NewMetrics(nil), closeCH: conn.Close}
	store := alert.NewStore(conn, chCfg.Database, nil)
	s.disp, err = alert.NewDispatcher(alert.DefaultDispatchConfig(), set, store, s.metrics, log.Named("alert"))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("alerting: %w", err)
	}
	s.runaway = alert.NewRunaway(alert.RunawayConfig{Group: group}, set, s.disp, conn, chCfg.Database, s.metrics, log.Named("alert"), nil)
	return s, nil
}

// run runs the aggregator with the dispatcher and the idle sweep beside it;
// the dispatcher outlives the aggregator's final flush so that what the
// last events decided is still delivered.
func (s *streamAlerts) run(ctx context.Context, agg *aggregate.Aggregator) error {
	defer s.closeCH()
	alert.Register(agg.Registry(), s.metrics)
	dctx, stopDispatch := context.WithCancel(context.Background())
	defer stopDispatch()
	g, gctx := errgroup.WithContext(ctx)
	done := make(chan error, 1)
	go func() { done <- s.disp.Run(dctx) }()
	g.Go(func() error { return s.runaway.Run(gctx) })
	g.Go(func() error { return agg.Run(gctx) })
	err := g.Wait()
	stopDispatch()
	<-done
	return err
}
