package main

import (
	"context"
	"encoding/json"
	"io"

	"github.com/jevonsdev/jevons/ingest/loadgen"
	"github.com/jevonsdev/jevons/internal/verify"
	"github.com/jevonsdev/jevons/sink"
)

func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify", stderr)
	cfg := sink.DefaultConfig()
	chSec := clickhouseFlags(fs, &cfg)
	truthPath := fs.String("truth", "", "truth file written by jevons loadgen --truth (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := chSec.apply(); err != nil {
		return err
	}
	if *truthPath == "" {
		return errorf("--truth is required")
	}
	truth, err := loadgen.ReadTruth(*truthPath)
	if err != nil {
		return err
	}
	conn, err := sink.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	rep, err := verify.Compare(ctx, conn, cfg.Database, truth)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return err
	}
	if len(rep.Mismatches) > 0 {
		return exitError{1}
	}
	return nil
}
