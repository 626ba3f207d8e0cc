package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/jevonsdev/jevons/alert"
	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/sink"
)

func init() {
	examples["alert"] = []string{
		"jevons alert --rules rules.yaml --clickhouse 127.0.0.1:9000 --http :9465",
		"jevons alert --rules rules.yaml --name prod --brokers 127.0.0.1:9092   # replicas elect one leader",
		"jevons alert check rules.yaml",
	}
}

func runAlert(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "check" {
		return runAlertCheck(args[1:], stdout, stderr)
	}
	fs := newFlagSet("alert", stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: jevons alert [flags]
       jevons alert check FILE...

Evaluates the budget, threshold, spike and jevons rules of the rules files
against ClickHouse every --interval and notifies their channels. Runaway-task
rules run in the stream: pass the same files to 'jevons aggregate --rules'.
'check' validates rules files and lists every problem.

flags:`)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), exampleText("alert"))
	}
	chCfg := sink.DefaultConfig()
	configFile := fs.String("config", "", "YAML config file; keys are the flag names")
	chSec := clickhouseFlags(fs, &chCfg)
	kSec := kafkaSecurityFlags(fs)
	rules := listFlag{}
	fs.Var(&rules, "rules", "rules file (repeatable; env: ':'-separated)")
	owner := fs.String("name", "default", "this evaluator's name: its alert states are kept under it; run one active replica per name")
	interval := fs.Duration("interval", 30*time.Second, "time between evaluations")
	daily := fs.Bool("daily-rollups", true, "read whole UTC days from usage_daily_rollup (false: minutes only)")
	httpAddr := fs.String("http", "", "serve /metrics and /healthz on this address (e.g. :9465)")
	brokers := fs.String("brokers", "", "Kafka brokers for leader election among replicas of the same --name (empty: this process is the only one)")
	session := fs.Duration("leader-session-timeout", 10*time.Second, "a dead leader is replaced after this long")
	leaderTopic := fs.String("leader-topic", "jevons.alert-leader", "one-partition topic whose consumer group elects the active replica")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := layer(fs, *configFile); err != nil {
		return err
	}
	if err := chSec.apply(); err != nil {
		return err
	}
	kcfg, err := kSec.config()
	if err != nil {
		return err
	}
	if len(rules) == 0 {
		return errors.New("--rules: at least one rules file is needed")
	}
	set, err := alert.Load(rules...)
	if err != nil {
		return fmt.Errorf("rules: %w", err)
	}
	log, err := newLogger(*level, stderr)
	if err != nil {
		return err
	}
	defer log.Sync()
	conn, err := sink.Open(ctx, chCfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	migs, err := sink.LoadMigrations(schemas.ClickHouse, "clickhouse")
	if err != nil {
		return err
	}
	if _, err := sink.MigrateCluster(ctx, conn, chCfg.Database, chCfg.Cluster, migs, log.Named("migrate")); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	m := alert.NewMetrics(reg)
	store := alert.NewStore(conn, chCfg.Database, nil)
	disp, err := alert.NewDispatcher(alert.DefaultDispatchConfig(), set, store, m, log.Named("alert"))
	if err != nil {
		return err
	}
	q := &alert.Querier{Conn: conn, DB: chCfg.Database, UseDaily: *daily}
	evaluate := func(ctx context.Context) error {
		ev := alert.NewPeriod(alert.PeriodConfig{Owner: *owner, Interval: *interval}, set, q, store, disp, m, log.Named("alert"), nil)
		for {
			err := ev.Restore(ctx)
			if err == nil {
				break
			}
			log.Warn("restore alert states failed; retrying", zap.Error(err))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(2 * time.Second):
			}
		}
		return ev.Run(ctx)
	}
	log.Info("alerting", zap.Int("rules", len(set.Rules)), zap.String("name", *owner), zap.Duration("interval", *interval))
	dctx, stopDispatch := context.WithCancel(context.Background())
	defer stopDispatch()
	dispDone := make(chan error, 1)
	go func() { dispDone <- disp.Run(dctx) }()
	g, gctx := errgroup.WithContext(ctx)
	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", *httpAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
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
	if *brokers == "" {
		g.Go(func() error { return evaluate(gctx) })
	} else {
		lc := alert.LeaderConfig{Brokers: splitList(*brokers), Topic: *leaderTopic, Group: "jevons-alert-" + *owner, SessionTimeout: *session, Security: kcfg}
		g.Go(func() error { return alert.Lead(gctx, lc, log.Named("leader"), evaluate) })
	}
	err = g.Wait()
	stopDispatch()
	<-dispDone
	log.Info("stopped", zap.Error(err))
	return err
}

func runAlertCheck(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "usage: jevons alert check FILE...")
		return exitError{2}
	}
	set, err := alert.Load(args...)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError{1}
	}
	kinds := map[string]int{}
	for _, r := range set.Rules {
		kinds[r.Kind]++
	}
	fmt.Fprintf(stdout, "ok: %d rules (%v), %d channels\n", len(set.Rules), kinds, len(set.Channels))
	return nil
}
