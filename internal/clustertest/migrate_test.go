package clustertest

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/sink"
)

// `jevons migrate --cluster` creates replicated storage on every server and
// Distributed tables sharded by src_partition; the views sum across shards
// with FINAL exact on each; a second run applies nothing; and a migration
// added later (a new column, a new table, a view) is clustered the same way.
func TestMigrateClusterShardsByPartitionAndViewsSumAcrossShards(t *testing.T) {
	e := newEnv(t, 1)
	out := e.migrate()
	if !strings.Contains(out, "0 already applied") {
		t.Fatalf("first migrate: %s", out)
	}
	if out := e.migrate(); !strings.Contains(out, " 0 applied") {
		t.Fatalf("second migrate applied again: %s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	for i, addr := range e.c.ClickHouse {
		conn := e.server(ctx, addr)
		for table, want := range map[string]string{"usage_rollup_local": "ReplicatedReplacingMergeTree", "usage_rollup": "Distributed",
			"task_rollup_local": "ReplicatedReplacingMergeTree", "usage": "View", "tasks": "View", "alerts_local": "ReplicatedMergeTree"} {
			var engine string
			if err := conn.QueryRow(ctx, "SELECT engine FROM system.tables WHERE database = ? AND name = ?", e.db, table).Scan(&engine); err != nil {
				t.Fatalf("server %d (%s): table %s: %v", i, addr, table, err)
			}
			if engine != want {
				t.Fatalf("server %d: %s is %s, want %s", i, table, engine, want)
			}
		}
		conn.Close()
	}

	// Whole states of four source partitions, written twice (a replay), and
	// a newer state of one key: through the Distributed table.
	insert := func(p uint32, req, in uint64, cost int64, lat, ver uint64) {
		t.Helper()
		// A batch with a column list: the insert form 18.16 takes from clickhouse-go.
		b, err := e.conn.PrepareBatch(ctx, "INSERT INTO "+e.db+".usage_rollup (src_partition, window_start, tenant, app, task_type, provider, model, operation, status, requests, input_tokens, cost_nanos, latency_ms_max, version)")
		if err != nil {
			t.Fatal(err)
		}
		at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		if err := b.Append(p, at, "acme", "a", "t", "openai", "gpt-4o", "chat", "ok", req, in, cost, lat, ver); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		for p := range uint32(4) {
			insert(p, uint64(p+1), 100*uint64(p+1), 1000*int64(p+1), 10*uint64(p), 5)
		}
	}
	insert(0, 7, 700, 7000, 90, 9)
	var req, in, lat uint64
	var cost int64
	if err := e.conn.QueryRow(ctx, "SELECT requests, input_tokens, cost_nanos, latency_ms_max FROM "+e.db+".usage").Scan(&req, &in, &cost, &lat); err != nil {
		t.Fatal(err)
	}
	if req != 7+2+3+4 || in != 700+200+300+400 || cost != 7000+2000+3000+4000 || lat != 90 {
		t.Fatalf("usage view: %d requests, %d input tokens, %d nanos, max latency %d", req, in, cost, lat)
	}

	// Each partition's rows live on one shard, on both of its replicas.
	shardOf := map[uint32]int{}
	for i, addr := range e.c.ClickHouse {
		conn := e.server(ctx, addr)
		if err := conn.Exec(ctx, "SYSTEM SYNC REPLICA "+e.db+".usage_rollup_local"); err != nil {
			t.Fatal(err)
		}
		rows, err := conn.Query(ctx, "SELECT DISTINCT src_partition FROM "+e.db+".usage_rollup_local")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var p uint32
			if err := rows.Scan(&p); err != nil {
				t.Fatal(err)
			}
			if s, ok := shardOf[p]; ok && s != i/2 {
				t.Fatalf("partition %d on shards %d and %d", p, s+1, i/2+1)
			}
			shardOf[p] = i / 2
		}
		rows.Close()
		conn.Close()
	}
	if len(shardOf) != 4 || shardOf[0] == shardOf[1] {
		t.Fatalf("partitions by shard %v: want 4 partitions over both shards", shardOf)
	}

	// A later migration, as other branches add them.
	later := fstest.MapFS{
		"m/0001_rollups.sql": {Data: []byte("-- as applied (checksum aside): gives the sharding key\nCREATE TABLE IF NOT EXISTS ${db}.usage_rollup (src_partition UInt32) ENGINE = ReplacingMergeTree ORDER BY src_partition;\n")},
		"m/0099_later.sql": {Data: []byte(`ALTER TABLE ${db}.usage_rollup ADD COLUMN region String DEFAULT 'eu';
CREATE TABLE IF NOT EXISTS ${db}.budgets (tenant String, cap Int64, version UInt64) ENGINE = ReplacingMergeTree(version) ORDER BY tenant;
CREATE VIEW IF NOT EXISTS ${db}.usage_by_region AS SELECT region, sum(requests) AS requests FROM ${db}.usage_rollup FINAL GROUP BY region;
`)},
	}
	migs, err := sink.LoadMigrations(later, "m")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.MigrateCluster(ctx, e.conn, e.db, e.c.Name, migs, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	var region string
	if err := e.conn.QueryRow(ctx, "SELECT region, requests FROM "+e.db+".usage_by_region").Scan(&region, &req); err != nil {
		t.Fatal(err)
	}
	if region != "eu" || req != 16 {
		t.Fatalf("usage_by_region: %s %d", region, req)
	}
	b, err := e.conn.PrepareBatch(ctx, "INSERT INTO "+e.db+".budgets (tenant, cap, version)")
	if err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"acme", "beta"} {
		if err := b.Append(tenant, int64(5), uint64(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	var n uint64
	if err := e.conn.QueryRow(ctx, "SELECT count() FROM "+e.db+".budgets FINAL").Scan(&n); err != nil || n != 2 {
		t.Fatalf("budgets: %d rows, %v", n, err)
	}
}

// server connects to one server of the cluster, not through failover.
func (e *env) server(ctx context.Context, addr string) driver.Conn {
	e.t.Helper()
	cfg := sink.DefaultConfig()
	cfg.Addr = addr
	conn, err := sink.Open(ctx, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return conn
}
