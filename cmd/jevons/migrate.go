package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/sink"
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// newLogger returns a JSON logger on stderr at the given level.
func newLogger(level string, stderr io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(stderr), lvl)
	return zap.New(core), nil
}

// clickhouseFlags registers the ClickHouse address, database, user,
// password and TLS flags; the caller applies the returned security after
// parsing.
func clickhouseFlags(fs *flag.FlagSet, cfg *sink.Config) *clickhouseSecurity {
	fs.StringVar(&cfg.Addr, "clickhouse", envOr("JEVONS_CLICKHOUSE", cfg.Addr), "ClickHouse native-protocol address host:port (env JEVONS_CLICKHOUSE)")
	fs.StringVar(&cfg.Database, "database", envOr("JEVONS_DATABASE", cfg.Database), "ClickHouse database (env JEVONS_DATABASE)")
	fs.StringVar(&cfg.Username, "clickhouse-user", envOr("JEVONS_CLICKHOUSE_USER", cfg.Username), "ClickHouse user (env JEVONS_CLICKHOUSE_USER)")
	clusterFlag(fs, cfg)
	return clickhouseSecurityFlags(fs, cfg)
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", stderr)
	cfg := sink.DefaultConfig()
	chSec := clickhouseFlags(fs, &cfg)
	level := fs.String("log-level", envOr("JEVONS_LOG_LEVEL", "info"), "log level (env JEVONS_LOG_LEVEL)")
	printSQL := fs.Bool("print", false, "print every statement that migrating an empty database runs (with --cluster, the clustered form) and connect to nothing")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := chSec.apply(); err != nil {
		return err
	}
	log, err := newLogger(*level, stderr)
	if err != nil {
		return err
	}
	defer log.Sync()
	migs, err := sink.LoadMigrations(schemas.ClickHouse, "clickhouse")
	if err != nil {
		return err
	}
	if *printSQL {
		stmts, err := sink.MigrationSQL(cfg.Database, cfg.Cluster, migs)
		if err != nil {
			return err
		}
		for _, s := range stmts {
			fmt.Fprintf(stdout, "%s;\n\n", s)
		}
		return nil
	}
	conn, err := sink.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	res, err := sink.MigrateCluster(ctx, conn, cfg.Database, cfg.Cluster, migs, log.Named("migrate"))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "clickhouse %s, database %s: %d applied, %d already applied, %d skipped\n",
		res.Server, cfg.Database, len(res.Applied), len(res.Already), len(res.Skipped))
	for _, s := range res.Skipped {
		fmt.Fprintf(stdout, "skipped %s\n", s)
	}
	if len(res.Applied) > 0 {
		fmt.Fprintf(stdout, "applied %s\n", strings.Join(res.Applied, ", "))
	}
	return nil
}
