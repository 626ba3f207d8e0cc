package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/jevonsdev/jevons/ingest/loadgen"
	"github.com/jevonsdev/jevons/internal/topics"
	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/sink"
	"go.uber.org/zap"
)

const demoSteps = 8

// demo is one run of the story.
type demo struct {
	o       *demoOptions
	out     io.Writer
	stderr  io.Writer
	start   time.Time
	conn    driver.Conn
	brokers []string
	recv    *demoReceiver
	truth   *loadgen.Truth
	failed  []string // checks that did not hold
}

// step prints a numbered progress line with the time since the start.
func (d *demo) step(n int, format string, a ...any) {
	fmt.Fprintf(d.out, "[%d/%d %5.1fs] %s\n", n, demoSteps, time.Since(d.start).Seconds(), fmt.Sprintf(format, a...))
}

// note prints an indented progress line under the current step.
func (d *demo) note(format string, a ...any) {
	fmt.Fprintf(d.out, "        %s\n", fmt.Sprintf(format, a...))
}

func (d *demo) fail(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	d.failed = append(d.failed, msg)
	fmt.Fprintf(d.out, "        FAILED: %s\n", msg)
}

func (d *demo) run(ctx context.Context) error {
	if err := os.MkdirAll(d.o.dir, 0o755); err != nil {
		return fmt.Errorf("--dir: %w", err)
	}
	if err := d.clickhouse(ctx); err != nil {
		return err
	}
	defer d.conn.Close()
	stopKafka, err := d.kafka(ctx)
	if err != nil {
		return err
	}
	defer stopKafka()
	rules, err := d.receiver()
	if err != nil {
		return err
	}
	defer d.recv.close()
	aggCtx, stopAgg := context.WithCancel(ctx)
	aggDone, err := d.aggregator(aggCtx, rules)
	if err != nil {
		stopAgg()
		return err
	}
	stopAggregator := func() error {
		stopAgg()
		select {
		case err := <-aggDone:
			return err
		case <-time.After(time.Minute):
			return errors.New("aggregator did not stop within a minute")
		}
	}
	err = d.story(ctx, rules, aggDone)
	if stopErr := stopAggregator(); err == nil && stopErr != nil && !errors.Is(stopErr, context.Canceled) {
		err = fmt.Errorf("aggregator: %w", stopErr)
	}
	if err != nil {
		return err
	}
	return d.finish()
}

// story runs steps 5 to 8 while the aggregator runs.
func (d *demo) story(ctx context.Context, rules string, aggDone <-chan error) error {
	if err := d.history(ctx); err != nil {
		return err
	}
	if err := d.waitAggregated(ctx, aggDone); err != nil {
		return err
	}
	if err := d.periodAlerts(ctx, rules); err != nil {
		return err
	}
	if err := d.liveTraffic(ctx, aggDone); err != nil {
		return err
	}
	return d.report(ctx)
}

func (d *demo) finish() error {
	fmt.Fprintf(d.out, "\ndone in %.0fs. The report: %s\n", time.Since(d.start).Seconds(), filepath.Join(d.o.dir, "report.html"))
	fmt.Fprintf(d.out, "Data stays in ClickHouse database %s at %s; 'deploy/local/demo --down' drops it and stops the ClickHouse the demo started.\n",
		d.o.ch.Database, d.o.ch.Addr)
	if len(d.failed) > 0 {
		fmt.Fprintf(d.out, "%d check(s) failed:\n  %s\n", len(d.failed), strings.Join(d.failed, "\n  "))
		return exitError{1}
	}
	return nil
}

// clickhouse waits for the server, then recreates the demo's database.
func (d *demo) clickhouse(ctx context.Context) error {
	d.step(1, "ClickHouse at %s: waiting for it to answer (up to %s)", d.o.ch.Addr, d.o.timeout)
	deadline := time.Now().Add(d.o.timeout)
	for {
		conn, err := sink.Open(ctx, d.o.ch)
		if err == nil {
			if err = conn.Ping(ctx); err == nil {
				d.conn = conn
				break
			}
			conn.Close()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("clickhouse %s does not answer (start it with deploy/local/services up clickhouse): %w", d.o.ch.Addr, err)
		}
		if waited := time.Since(d.start).Round(time.Second); waited%(5*time.Second) == 0 && waited > 0 {
			d.note("still waiting for ClickHouse (%s): %v", waited, err)
		}
		time.Sleep(time.Second)
	}
	if err := demoOwnsDatabase(ctx, d.conn, d.o.ch.Database); err != nil {
		return err
	}
	if err := d.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+d.o.ch.Database); err != nil {
		return fmt.Errorf("drop database %s: %w", d.o.ch.Database, err)
	}
	migs, err := sink.LoadMigrations(schemas.ClickHouse, "clickhouse")
	if err != nil {
		return err
	}
	res, err := sink.MigrateCluster(ctx, d.conn, d.o.ch.Database, d.o.ch.Cluster, migs, zap.NewNop())
	if err != nil {
		return err
	}
	if err := d.conn.Exec(ctx, fmt.Sprintf("CREATE TABLE %s.%s (made DateTime) ENGINE = TinyLog", d.o.ch.Database, demoMarker)); err != nil {
		return fmt.Errorf("mark database %s as the demo's: %w", d.o.ch.Database, err)
	}
	d.note("ClickHouse %s; database %s recreated: %d migrations applied", res.Server, d.o.ch.Database, len(res.Applied))
	return nil
}

// demoMarker is the table that marks a database as the demo's own.
const demoMarker = "jevons_demo_marker"

// demoOwnsDatabase refuses to drop a database with tables that the demo did
// not make: --database pointing at real data must never lose it.
func demoOwnsDatabase(ctx context.Context, conn driver.Conn, db string) error {
	var tables, marker uint64
	err := conn.QueryRow(ctx, "SELECT count(), countIf(name = ?) FROM system.tables WHERE database = ?", demoMarker, db).Scan(&tables, &marker)
	if err != nil {
		return fmt.Errorf("look at database %s: %w", db, err)
	}
	if tables > 0 && marker == 0 {
		return fmt.Errorf("database %s holds %d tables that jevons demo did not make; the demo drops its database on every run, so give it another --database", db, tables)
	}
	return nil
}

// kafka starts the in-process broker, or empties the demo's topics on a
// real one so that a run never counts the previous run's messages.
func (d *demo) kafka(ctx context.Context) (func(), error) {
	if len(d.o.brokers) == 0 {
		d.step(2, "Kafka: starting an in-process Kafka-protocol broker (no --brokers given)")
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
		if err != nil {
			return nil, fmt.Errorf("in-process broker: %w", err)
		}
		d.brokers = c.ListenAddrs()
		d.note("listening on %s", strings.Join(d.brokers, ","))
		return c.Close, nil
	}
	d.brokers = d.o.brokers
	d.step(2, "Kafka at %s: recreating topics %s and %s.dlq", strings.Join(d.brokers, ","), d.o.topic, d.o.topic)
	client, done := topics.NewClient(d.o.ksec, d.brokers)
	defer done()
	resp, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{d.o.topic, d.o.topic + ".dlq"}})
	if err != nil {
		return nil, fmt.Errorf("delete demo topics on %v: %w", d.brokers, err)
	}
	for t, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("delete topic %s: %w", t, err)
		}
	}
	// Deletion is asynchronous: wait until the topics are gone before
	// creating them again.
	deadline := time.Now().Add(d.o.timeout)
	for {
		n, err := topics.Partitions(ctx, d.o.ksec, d.brokers, d.o.topic)
		if err != nil || n == 0 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("topic %s still exists %s after its deletion", d.o.topic, d.o.timeout)
		}
		d.note("waiting for the broker to delete %s", d.o.topic)
		time.Sleep(time.Second)
	}
	return func() {}, nil
}
