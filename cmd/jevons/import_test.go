package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jevonsdev/jevons/internal/itest"
	"github.com/jevonsdev/jevons/sink"
)

func TestImportRejectsBadLinesNamingThemAndSendsNothing(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.ndjson")
	good := `{"event_id":"e1","time":"2026-02-10T10:00:00Z","tenant":"acme","provider":"openai","model":"gpt-4o","usage":{"input_tokens":10,"output_tokens":5}}`
	body := good + "\n\n" + `{"event_id":"e2","time":"2026-02-10T10:00:00Z","tenant":"acme","model":"gpt-4o"}` + "\nnot json\n"
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	// Unreachable services: the file is rejected before any connection.
	code := run(context.Background(), []string{"import", "--brokers", "127.0.0.1:1", "--clickhouse", "127.0.0.1:1", file}, io.Discard, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "line 3") || !strings.Contains(stderr.String(), "line 4") || !strings.Contains(stderr.String(), "nothing imported") {
		t.Fatalf("exit %d, stderr %q: want 1 naming lines 3 and 4", code, stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"import", "--format", "csv", file}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "--format") {
		t.Fatalf("exit %d, %q", code, stderr.String())
	}
}

// NDJSON and an OpenAI usage export imported twice through the real
// services: the rollups hold each request once, at its own day's price.
func TestImportTwiceCountsOnce(t *testing.T) {
	brokers, ch := itest.Kafka(t), itest.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := fmt.Sprintf("import_%d", time.Now().UnixNano())
	dir := t.TempDir()
	nd := filepath.Join(dir, "history.ndjson")
	var lines []string
	for i := range 50 {
		lines = append(lines, fmt.Sprintf(`{"event_id":"hist-%d","time":"2026-02-%02dT10:00:00Z","tenant":"acme","task_id":"t-%d","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":%d,"output_tokens":%d}}`,
			i, 1+i%20, i/3, 1000+i, 100+i))
	}
	if err := os.WriteFile(nd, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	export := filepath.Join("..", "..", "ingest", "providers", "testdata", "openai-usage.json")
	common := []string{"--brokers", brokers, "--topic", id, "--clickhouse", ch, "--database", id}
	for round := range 2 {
		for _, args := range [][]string{{nd}, {"--format", "openai-usage", "--tenant", "acme", "--app", "api", export}} {
			var out, errs bytes.Buffer
			if code := run(ctx, append(append([]string{"import"}, common...), args...), &out, &errs); code != 0 {
				t.Fatalf("round %d import %v: exit %d %s", round, args, code, errs.String())
			}
			var res struct{ Stats map[string]int }
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatal(err)
			}
			if round == 1 && (res.Stats["sent"] != 0 || res.Stats["already_imported"] != res.Stats["events"]) {
				t.Fatalf("second import of %v sent again: %+v", args, res.Stats)
			}
		}
	}
	aggCtx, stop := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		done <- run(aggCtx, []string{"aggregate", "--brokers", brokers, "--topic", id, "--group", id, "--clickhouse", ch, "--database", id,
			"--idle-flush", "1s", "--log-level", "error"}, io.Discard, io.Discard)
	}()
	defer func() { stop(); <-done }()
	cfg := sink.DefaultConfig()
	cfg.Addr, cfg.Database = ch, id
	conn, err := sink.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	defer conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+id)
	// 50 NDJSON requests + 13 from the export; tokens summed by hand.
	var wantTokens uint64
	for i := range 50 {
		wantTokens += uint64(1100 + 2*i)
	}
	wantTokens += 100003 + 20001 + 5000 + 900 + 3 + 1
	for {
		var req, tokens uint64
		err := conn.QueryRow(ctx, "SELECT toUInt64(sum(requests)), toUInt64(sum(input_tokens + output_tokens)) FROM "+id+".usage_daily").Scan(&req, &tokens)
		if err == nil && req == 63 && tokens == wantTokens {
			break
		}
		if err == nil && req > 63 {
			t.Fatalf("%d requests: the second import was counted", req)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("never reached 63 requests and %d tokens: %d, %d, %v", wantTokens, req, tokens, err)
		case <-time.After(time.Second):
		}
	}
	// Still exactly once a little later.
	time.Sleep(3 * time.Second)
	var req uint64
	if err := conn.QueryRow(ctx, "SELECT toUInt64(sum(requests)) FROM "+id+".usage").Scan(&req); err != nil || req != 63 {
		t.Fatalf("minute view: %d requests, %v", req, err)
	}
}
