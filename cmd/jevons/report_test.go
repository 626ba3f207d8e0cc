package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jevonsdev/jevons/analytics"
	"github.com/jevonsdev/jevons/ingest/loadgen"
	"github.com/jevonsdev/jevons/internal/itest"
	"github.com/jevonsdev/jevons/internal/verify"
	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/report"
	"github.com/jevonsdev/jevons/sink"
)

func TestReportFlagsExitTwoNamingTheFlag(t *testing.T) {
	for _, tt := range []struct {
		name, flag string
		args       []string
	}{
		{"from after to", "--from", []string{"--from", "2026-03-01", "--to", "2026-02-01"}},
		{"a bad date", "--to", []string{"--from", "2026-03-01", "--to", "2026-02-30"}},
		{"a missing date", "--from", []string{"--to", "2026-02-01"}},
		{"an unknown format", "--format", []string{"--from", "2026-01-01", "--to", "2026-02-01", "--format", "pdf"}},
		{"an unknown period", "--by", []string{"--from", "2026-01-01", "--to", "2026-02-01", "--by", "year"}},
		{"an unknown time zone", "--tz", []string{"--from", "2026-01-01", "--to", "2026-02-01", "--tz", "Mars/Olympus"}},
		{"the local zone, which differs between machines", "--tz", []string{"--from", "2026-01-01", "--to", "2026-02-01", "--tz", "Local"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(context.Background(), append([]string{"report"}, tt.args...), io.Discard, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tt.flag) {
				t.Fatalf("exit %d, stderr %q: want 2 naming %s", code, stderr.String(), tt.flag)
			}
		})
	}
}

// The story on the real services: loadgen --scenario jevons -> Kafka ->
// jevons aggregate -> ClickHouse -> jevons report --format json equals the
// scenario's truth: tokens, requests, tasks and cost to the nano-dollar per
// month, the factors to 1e-9 relative.
func TestStoryScenarioReportEqualsTruth(t *testing.T) {
	brokers, ch := itest.Kafka(t), itest.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id := fmt.Sprintf("story_%d", time.Now().UnixNano())
	truthPath := filepath.Join(t.TempDir(), "truth.json")
	catalog := filepath.Join("..", "..", loadgen.ScenarioPricesFile)
	var out, errs bytes.Buffer
	if code := run(ctx, []string{"loadgen", "--scenario", "jevons", "--months", "3", "--tasks-per-day", "6", "--seed", "7",
		"--brokers", brokers, "--topic", id, "--truth", truthPath}, &out, &errs); code != 0 {
		t.Fatalf("loadgen exit %d: %s", code, errs.String())
	}
	truth, err := loadgen.ReadTruth(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	aggCtx, stopAgg := context.WithCancel(ctx)
	aggDone := make(chan int, 1)
	var aggErr bytes.Buffer
	go func() {
		aggDone <- run(aggCtx, []string{"aggregate", "--brokers", brokers, "--topic", id, "--group", id, "--clickhouse", ch,
			"--database", id, "--catalog", catalog, "--idle-flush", "1s", "--log-level", "error"}, io.Discard, &aggErr)
	}()
	cfg := sink.DefaultConfig()
	cfg.Addr, cfg.Database = ch, id
	conn, err := sink.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	defer conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+id)
	for {
		rep, err := verify.Compare(ctx, conn, id, truth)
		if err == nil && len(rep.Mismatches) == 0 {
			break
		}
		select {
		case code := <-aggDone:
			t.Fatalf("aggregator stopped with %d: %s", code, aggErr.String())
		case <-ctx.Done():
			t.Fatalf("the pipeline never matched the truth: %v %+v", err, rep)
		case <-time.After(time.Second):
		}
	}
	stopAgg()
	<-aggDone

	out.Reset()
	if code := run(ctx, []string{"report", "--clickhouse", ch, "--database", id, "--from", "2026-01-01", "--to", "2026-03-31",
		"--by", "month", "--format", "json"}, &out, &errs); code != 0 {
		t.Fatalf("report exit %d: %s", code, errs.String())
	}
	var doc report.Document
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Periods) != 3 {
		t.Fatalf("%d periods, want 3", len(doc.Periods))
	}
	want := make([]analytics.Totals, 3)
	for d, v := range truth.ByDay {
		m := int(d[5]-'0')*10 + int(d[6]-'0') - 1
		want[m] = want[m].Add(analytics.Totals{Requests: uint64(v.Requests), Tasks: uint64(truth.TasksByDay[d]),
			InputTokens: uint64(v.InputTokens), OutputTokens: uint64(v.OutputTokens), CacheReadTokens: uint64(v.CacheReadTokens),
			CacheWriteTokens: uint64(v.CacheWriteTokens), CacheWrite1hTokens: uint64(v.CacheWrite1hTokens), ReasoningTokens: uint64(v.ReasoningTokens),
			CostNanos: v.CostNanos, RefCostNanos: v.RefCostNanos, UnpricedRequests: uint64(v.UnpricedRequests),
			UnpricedTokens: uint64(truth.UnpricedTokensByDay[d])})
	}
	for i, p := range doc.Periods {
		w := want[i]
		if p.Requests != w.Requests || p.Tasks != w.Tasks || p.Tokens != w.Tokens() || p.InputTokens != w.InputTokens ||
			p.OutputTokens != w.OutputTokens || p.CacheReadTokens != w.CacheReadTokens || p.ReasoningTokens != w.ReasoningTokens ||
			p.CostUSD != pricing.FormatNanos(w.CostNanos) || p.RefCostUSD != pricing.FormatNanos(w.RefCostNanos) ||
			p.UnpricedRequests != w.UnpricedRequests || p.UnpricedTokens != w.UnpricedTokens {
			t.Errorf("period %s: report %+v\ntruth %+v", p.Start, p, w)
		}
	}
	// Factors from the truth's own sums, not through the code under test.
	q := func(t analytics.Totals) float64 { return float64(t.Tokens() - t.UnpricedTokens) }
	f0, f2 := want[0], want[2]
	checks := []struct {
		name string
		got  analytics.Factor
		want float64
	}{
		{"usage factor", doc.Summary.UsageFactor, q(f2) / q(f0)},
		{"spend factor", doc.Summary.SpendFactor, float64(f2.CostNanos) / float64(f0.CostNanos)},
		{"unit-cost factor", doc.Summary.UnitCostFactor, (float64(f2.CostNanos) / q(f2)) / (float64(f0.CostNanos) / q(f0))},
		{"price factor", doc.Summary.PriceFactor, (float64(f2.CostNanos) / float64(f2.RefCostNanos)) / (float64(f0.CostNanos) / float64(f0.RefCostNanos))},
		{"mix factor", doc.Summary.MixFactor, (float64(f2.RefCostNanos) / q(f2)) / (float64(f0.RefCostNanos) / q(f0))},
	}
	for _, c := range checks {
		if !c.got.Defined || math.Abs(c.got.Value-c.want) > 1e-9*math.Abs(c.want) {
			t.Errorf("%s %+v, truth %v", c.name, c.got, c.want)
		}
	}
	if doc.Summary.Verdict != string(analytics.UsageOutpacesDecline) {
		t.Errorf("verdict %q: the story is usage outpacing the unit-cost decline", doc.Summary.Verdict)
	}
	var sum int64
	for _, s := range []string{doc.Summary.Decomposition.Volume, doc.Summary.Decomposition.Mix, doc.Summary.Decomposition.Price} {
		sum += nanos(t, s)
	}
	if sum != f2.CostNanos-f0.CostNanos {
		t.Errorf("volume + mix + price = %d nanos, C1 - C0 = %d", sum, f2.CostNanos-f0.CostNanos)
	}
	// Per model over the whole range: the truth's per-model sums.
	if len(doc.ByModel) != len(truth.ByModel) {
		t.Errorf("%d models in the report, %d in the truth", len(doc.ByModel), len(truth.ByModel))
	}
	for _, m := range doc.ByModel {
		w := truth.ByModel[m.Provider+"/"+m.Model]
		var req uint64
		var cost int64
		for _, p := range m.Periods {
			req += p.Requests
			cost += p.CostNanos
		}
		if w == nil || req != uint64(w.Requests) || cost != w.CostNanos {
			t.Errorf("model %s/%s: %d requests, %d nanos; truth %+v", m.Provider, m.Model, req, cost, w)
		}
	}
	if len(doc.UnpricedModels) != 1 || doc.UnpricedModels[0].Model != "in-house-7b" {
		t.Errorf("unpriced models %+v", doc.UnpricedModels)
	}
	// An unknown slice is an empty report, not an error.
	out.Reset()
	if code := run(ctx, []string{"report", "--clickhouse", ch, "--database", id, "--from", "2026-01-01", "--to", "2026-03-31",
		"--tenant", "nobody", "--format", "text"}, &out, &errs); code != 0 || !strings.Contains(out.String(), "No requests match") {
		t.Errorf("unknown tenant: exit %d, %q", code, out.String())
	}
}

// nanos parses a USD decimal with nine places into nano-dollars.
func nanos(t *testing.T, s string) int64 {
	t.Helper()
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	frac = (frac + "000000000")[:9]
	var n int64
	if _, err := fmt.Sscanf(whole+frac, "%d", &n); err != nil {
		t.Fatal(err)
	}
	if neg {
		n = -n
	}
	return n
}
