package sink

import (
	"regexp"
	"strings"
	"testing"

	"github.com/jevonsdev/jevons/schemas"
)

// Every migration file, those to come included, must have a cluster form:
// each table becomes replicated storage plus a Distributed table, and every
// DDL statement runs ON CLUSTER.
func TestEveryMigrationHasAClusterForm(t *testing.T) {
	migs, err := LoadMigrations(schemas.ClickHouse, "clickhouse")
	if err != nil {
		t.Fatal(err)
	}
	clustered, err := ClusterMigrations(migs, "jevons")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range clustered {
		for _, s := range m.Statements {
			if !strings.Contains(s, " ON CLUSTER jevons") && !strings.HasPrefix(s, "INSERT") {
				t.Errorf("migration %04d_%s: statement without ON CLUSTER: %.80s", m.Version, m.Name, s)
			}
			if regexp.MustCompile(`ENGINE = (Replacing)?MergeTree`).MatchString(s) {
				t.Errorf("migration %04d_%s: unreplicated storage: %.80s", m.Version, m.Name, s)
			}
		}
	}
}

func TestClusterStatements(t *testing.T) {
	tests := []struct {
		name   string
		before string // an earlier CREATE TABLE, whose output is not checked
		in     string
		want   []string // substrings of each output statement, in order
	}{
		{
			name: "a state table is replicated per shard and sharded by src_partition",
			in: `CREATE TABLE IF NOT EXISTS ${db}.usage_rollup (
    src_partition UInt32, window_start DateTime('UTC'), models Array(String), version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_start, src_partition)`,
			want: []string{
				"CREATE TABLE IF NOT EXISTS ${db}.usage_rollup_local ON CLUSTER c (\n    src_partition UInt32, window_start DateTime('UTC'), models Array(String), version UInt64\n) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/${db}/usage_rollup_local', '{replica}', version)\nPARTITION BY toYYYYMM(window_start)\nORDER BY (window_start, src_partition)",
				"CREATE TABLE IF NOT EXISTS ${db}.usage_rollup ON CLUSTER c AS ${db}.usage_rollup_local ENGINE = Distributed(c, ${db}, usage_rollup_local, src_partition)",
			},
		},
		{
			name: "a checkpoint table is sharded by its partition",
			in:   "CREATE TABLE IF NOT EXISTS ${db}.consumer_checkpoints (consumer_group String, partition UInt32, version UInt64) ENGINE = ReplacingMergeTree(version) ORDER BY (consumer_group, partition)",
			want: []string{"ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/${db}/consumer_checkpoints_local', '{replica}', version)", "Distributed(c, ${db}, consumer_checkpoints_local, partition)"},
		},
		{
			name: "a table without a partition column is sharded by a hash of its first sorting column",
			in:   "CREATE TABLE ${db}.alert_outbox (idempotency_key String, seq UInt32) ENGINE = ReplacingMergeTree ORDER BY (idempotency_key, seq)",
			want: []string{"ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/${db}/alert_outbox_local', '{replica}') ORDER BY", "Distributed(c, ${db}, alert_outbox_local, cityHash64(idempotency_key))"},
		},
		{
			name: "a single sorting column without parentheses",
			in:   "CREATE TABLE IF NOT EXISTS ${db}.imported_events (key String) ENGINE = ReplacingMergeTree\nORDER BY key",
			want: []string{"ReplicatedReplacingMergeTree(", "cityHash64(key))"},
		},
		{
			name: "a plain MergeTree log becomes ReplicatedMergeTree",
			in:   "CREATE TABLE IF NOT EXISTS ${db}.alerts (rule String, changed_at DateTime) ENGINE = MergeTree PARTITION BY toYYYYMM(changed_at) ORDER BY (rule, changed_at)",
			want: []string{"ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${db}/alerts_local', '{replica}') PARTITION BY", "cityHash64(rule)"},
		},
		{
			name: "a view runs on every node and reads the Distributed tables",
			in:   "CREATE VIEW IF NOT EXISTS ${db}.usage AS\nSELECT tenant, sum(requests) AS requests FROM ${db}.usage_rollup FINAL GROUP BY tenant",
			want: []string{"CREATE VIEW IF NOT EXISTS ${db}.usage ON CLUSTER c AS\nSELECT tenant, sum(requests) AS requests FROM ${db}.usage_rollup FINAL GROUP BY tenant"},
		},
		{
			name:   "a new column is added to the storage, and the Distributed table is made again over it",
			before: "CREATE TABLE IF NOT EXISTS ${db}.usage_rollup (src_partition UInt32) ENGINE = ReplacingMergeTree ORDER BY src_partition",
			in:     "ALTER TABLE ${db}.usage_rollup ADD COLUMN region String DEFAULT '' CODEC(ZSTD(3))",
			want: []string{
				"ALTER TABLE ${db}.usage_rollup_local ON CLUSTER c ADD COLUMN region String DEFAULT '' CODEC(ZSTD(3))",
				"DROP TABLE IF EXISTS ${db}.usage_rollup ON CLUSTER c",
				"CREATE TABLE IF NOT EXISTS ${db}.usage_rollup ON CLUSTER c AS ${db}.usage_rollup_local ENGINE = Distributed(c, ${db}, usage_rollup_local, src_partition)",
			},
		},
		{
			name:   "codecs change the storage; the Distributed table keeps its sharding key",
			before: "CREATE TABLE ${db}.task_log (tenant String, requests UInt64) ENGINE = MergeTree ORDER BY tenant",
			in:     "ALTER TABLE ${db}.task_log\n    MODIFY COLUMN requests UInt64 CODEC(T64, LZ4)",
			want: []string{
				"ALTER TABLE ${db}.task_log_local ON CLUSTER c MODIFY COLUMN requests UInt64 CODEC(T64, LZ4)",
				"DROP TABLE IF EXISTS ${db}.task_log ON CLUSTER c",
				"Distributed(c, ${db}, task_log_local, cityHash64(tenant))",
			},
		},
		{
			name: "a mutation changes only the storage",
			in:   "ALTER TABLE ${db}.alerts DELETE WHERE rule = ''",
			want: []string{"ALTER TABLE ${db}.alerts_local ON CLUSTER c DELETE WHERE rule = ''"},
		},
		{
			name: "dropping a table drops its storage too",
			in:   "DROP TABLE IF EXISTS ${db}.old_rollup",
			want: []string{"DROP TABLE IF EXISTS ${db}.old_rollup ON CLUSTER c", "DROP TABLE IF EXISTS ${db}.old_rollup_local ON CLUSTER c"},
		},
		{
			name: "a dropped view",
			in:   "DROP VIEW IF EXISTS ${db}.usage",
			want: []string{"DROP VIEW IF EXISTS ${db}.usage ON CLUSTER c"},
		},
		{
			name: "an insert goes through the Distributed table",
			in:   "INSERT INTO ${db}.imported_events (key) VALUES ('x')",
			want: []string{"INSERT INTO ${db}.imported_events (key) VALUES ('x')"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []string{tt.in}
			if tt.before != "" {
				in = []string{tt.before, tt.in}
			}
			got, err := ClusterStatements(in, "c")
			if err != nil {
				t.Fatal(err)
			}
			if tt.before != "" {
				got = got[2:]
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d statements, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n---\n"))
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("statement %d:\n%s\nwant it to contain:\n%s", i+1, got[i], tt.want[i])
				}
			}
		})
	}
}

// A statement without a safe cluster form fails the whole migration, naming
// the statement, rather than applying half of it.
func TestClusterStatementsRefuseWhatTheyCannotCluster(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"a materialized view without TO", "CREATE MATERIALIZED VIEW ${db}.mv ENGINE = MergeTree ORDER BY a AS SELECT 1 AS a", "needs TO a MergeTree-family table"},
		{"a materialized view into a table no migration created", "CREATE MATERIALIZED VIEW ${db}.mv TO ${db}.t AS SELECT 1", "no earlier CREATE TABLE of its target t"},
		{"an engine outside the MergeTree family", "CREATE TABLE ${db}.t (a UInt8) ENGINE = Memory", "engine Memory of table t"},
		{"an already replicated table", "CREATE TABLE ${db}.t (a UInt8) ENGINE = ReplicatedMergeTree('/p', 'r') ORDER BY a", "already replicated"},
		{"a table without a database", "CREATE TABLE t (a UInt8) ENGINE = MergeTree ORDER BY a", "name its database"},
		{"a table without a sorting key to shard by", "CREATE TABLE ${db}.t (a UInt8) ENGINE = MergeTree ORDER BY tuple()", "no sorting column"},
		{"a column change of a table no migration created", "ALTER TABLE ${db}.t ADD COLUMN b UInt8", "no earlier CREATE TABLE gives its sharding key"},
		{"a rename", "RENAME TABLE ${db}.a TO ${db}.b", "statement 1 (RENAME TABLE ${db}.a TO): no cluster form"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ClusterStatements([]string{tt.in}, "c")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := ClusterStatements(nil, "bad-name"); err == nil {
		t.Fatal("a cluster name that is not an identifier was accepted")
	}
}

// A materialized view reads each node's storage table and writes to its
// storage table: a Distributed insert lands in s_local, which is what fires
// the view, and t_local replicates what the view writes.
func TestClusterMaterializedViewReadsAndWritesTheShardsStorage(t *testing.T) {
	got, err := ClusterStatements([]string{
		"CREATE TABLE ${db}.s (src_partition UInt32, k String) ENGINE = ReplacingMergeTree(v) ORDER BY (src_partition, k)",
		"CREATE TABLE ${db}.t (k String, n AggregateFunction(uniqExact, String)) ENGINE = AggregatingMergeTree() ORDER BY k",
		"CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.mv TO ${db}.t AS SELECT k, uniqExactState(k) AS n FROM ${db}.s GROUP BY k",
	}, "c")
	if err != nil {
		t.Fatal(err)
	}
	want := "CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.mv ON CLUSTER c TO ${db}.t_local AS SELECT k, uniqExactState(k) AS n FROM ${db}.s_local GROUP BY k"
	if last := got[len(got)-1]; last != want {
		t.Fatalf("got\n%s\nwant\n%s", last, want)
	}
	if _, err := ClusterStatements([]string{
		"CREATE TABLE ${db}.t (k String) ENGINE = MergeTree ORDER BY k",
		"CREATE MATERIALIZED VIEW ${db}.mv TO ${db}.t AS SELECT k FROM system.numbers",
	}, "c"); err == nil || !strings.Contains(err.Error(), "not a clustered table") {
		t.Fatalf("a view over a table outside the schema: %v", err)
	}
}

// ADD COLUMN IF NOT EXISTS keeps working on servers without the clause in
// its clustered form too (ALTER TABLE t_local ON CLUSTER c ADD COLUMN ...).
func TestAddColumnClauseIsFoundInTheClusteredForm(t *testing.T) {
	m := addColumnRE.FindStringSubmatch("ALTER TABLE ${db}.cp_local ON CLUSTER c ADD COLUMN IF NOT EXISTS catalog String DEFAULT ''")
	if m == nil || m[2] != "cp_local" || m[3] != "catalog" {
		t.Fatalf("match %q", m)
	}
}

// Without a cluster, the statements are the migration files' own.
func TestMigrationSQLOnOneServerIsTheFilesOwn(t *testing.T) {
	migs, err := LoadMigrations(schemas.ClickHouse, "clickhouse")
	if err != nil {
		t.Fatal(err)
	}
	got, err := MigrationSQL("db1", "", migs)
	if err != nil {
		t.Fatal(err)
	}
	want := 2 // CREATE DATABASE, schema_migrations
	for _, m := range migs {
		want += len(m.Statements)
	}
	if len(got) != want || got[0] != "CREATE DATABASE IF NOT EXISTS db1" {
		t.Fatalf("got %d statements starting %q, want %d", len(got), got[0], want)
	}
	for _, s := range got {
		if strings.Contains(s, "ON CLUSTER") || strings.Contains(s, "${db}") {
			t.Fatalf("single-server statement %.80s", s)
		}
	}
}
