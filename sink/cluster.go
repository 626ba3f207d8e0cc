package sink

import (
	"fmt"
	"regexp"
	"strings"
)

// LocalSuffix names the per-shard storage table behind each Distributed
// table on a cluster: usage_rollup is the Distributed table every query and
// insert names, usage_rollup_local the replicated storage on each shard.
const LocalSuffix = "_local"

// ShardKeyColumns are the sharding keys, in order of preference, of every
// table that has one of them. Every state key of the aggregator includes
// its source partition, so all rows of one key land on one shard and FINAL
// on each shard stays exact; a partition's checkpoint lands on the shard
// of its states, so a stopped shard stalls only its own partitions.
var ShardKeyColumns = []string{"src_partition", "partition"}

var (
	createTableRE = regexp.MustCompile(`(?is)^CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?((?:\$\{db\}|\w+)\.)?(\w+)\s*\((.*)\)\s*ENGINE\s*=\s*(\w*)MergeTree\b(\s*\(([^)]*)\))?(.*)$`)
	createOtherRE = regexp.MustCompile(`(?is)^CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?((?:\$\{db\}|\w+)\.)?(\w+).*ENGINE\s*=\s*(\w+)`)
	createViewRE  = regexp.MustCompile(`(?is)^CREATE\s+(OR\s+REPLACE\s+)?VIEW\s+(IF\s+NOT\s+EXISTS\s+)?((?:\$\{db\}|\w+)\.)?(\w+)\s+(AS\s.*)$`)
	createMatRE   = regexp.MustCompile(`(?is)^CREATE\s+MATERIALIZED\s+VIEW\b`)
	createMatToRE = regexp.MustCompile(`(?is)^CREATE\s+MATERIALIZED\s+VIEW\s+(IF\s+NOT\s+EXISTS\s+)?((?:\$\{db\}|\w+)\.)?(\w+)\s+TO\s+((?:\$\{db\}|\w+)\.)?(\w+)\s+(AS\s.*)$`)
	fromTableRE   = regexp.MustCompile(`(?is)\b(FROM|JOIN)\s+((?:\$\{db\}|\w+)\.)?(\w+)\b`)
	alterRE       = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+((?:\$\{db\}|\w+)\.)?(\w+)\s+(.*)$`)
	dropRE        = regexp.MustCompile(`(?is)^DROP\s+(TABLE|VIEW)\s+(IF\s+EXISTS\s+)?((?:\$\{db\}|\w+)\.)?(\w+)\s*$`)
	insertRE      = regexp.MustCompile(`(?is)^INSERT\s+INTO\s`)
	orderByRE     = regexp.MustCompile(`(?is)\bORDER\s+BY\s+(\(\s*([^,)]+)|([^\s,()]+))`)
	columnActRE   = regexp.MustCompile(`(?i)\b(ADD|DROP|MODIFY|RENAME|COMMENT|CLEAR)\s+COLUMN\b`)
)

// ClusterStatements rewrites one migration's statements for a ClickHouse
// cluster, so that the single-node migration files stay the one source of
// the schema. Statements keep their ${db} placeholder.
//
//   - CREATE TABLE t (...) ENGINE = XMergeTree(args) becomes the storage
//     table t_local ON CLUSTER with ReplicatedXMergeTree('/clickhouse/tables/{shard}/<db>/t_local',
//     '{replica}', args), and t becomes a Distributed table over it, sharded
//     by src_partition (or partition) when the table has that column, else
//     by cityHash64 of the first ORDER BY column (every row of one sorting
//     key, so of one ReplacingMergeTree key, lands on one shard).
//
//   - CREATE VIEW gains ON CLUSTER; the view reads the Distributed tables,
//     so it sums across shards.
//
//   - ALTER TABLE t alters t_local ON CLUSTER; after a column change the
//     Distributed t is dropped and created again over the new storage (18.16
//     refuses ALTER ON CLUSTER of a Distributed table over replicated
//     shards; it holds no data, inserts being synchronous). Its sharding
//     key is the one of t's CREATE TABLE in an earlier statement.
//
//   - DROP TABLE/VIEW gains ON CLUSTER; DROP TABLE drops t_local too.
//
//   - INSERT INTO t is kept: it goes through the Distributed table.
//
//   - CREATE MATERIALIZED VIEW v TO t AS SELECT ... FROM s becomes a view on
//     every node from s_local to t_local (see materialized).
//
// Anything else, materialized views without TO and engines outside the MergeTree
// family included, is an error naming the statement: a migration must not
// half-apply on a cluster.
func ClusterStatements(stmts []string, cluster string) ([]string, error) {
	c, err := newClusterer(cluster)
	if err != nil {
		return nil, err
	}
	return c.statements(stmts)
}

// ClusterMigrations rewrites every migration with ClusterStatements, in
// order, so that a later migration's ALTER finds the sharding key of a
// table an earlier one created. Versions, names and checksums stay the
// files' own.
func ClusterMigrations(migs []Migration, cluster string) ([]Migration, error) {
	c, err := newClusterer(cluster)
	if err != nil {
		return nil, err
	}
	out := make([]Migration, len(migs))
	for i, m := range migs {
		out[i] = m
		if out[i].Statements, err = c.statements(m.Statements); err != nil {
			return nil, fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return out, nil
}

type clusterer struct {
	cluster string
	keys    map[string]string // table -> sharding key of its Distributed table
}

func newClusterer(cluster string) (*clusterer, error) {
	if !identRE.MatchString(cluster) {
		return nil, fmt.Errorf("cluster %q is not a plain identifier", cluster)
	}
	return &clusterer{cluster: cluster, keys: map[string]string{}}, nil
}

func (c *clusterer) statements(stmts []string) ([]string, error) {
	var out []string
	for i, s := range stmts {
		got, err := c.statement(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("statement %d (%s): %w", i+1, firstWords(s), err)
		}
		out = append(out, got...)
	}
	return out, nil
}

func (c *clusterer) distributed(db, name string) string {
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s%s ON CLUSTER %s AS %s%s%s ENGINE = Distributed(%s, %s, %s%s, %s)",
		db, name, c.cluster, db, name, LocalSuffix, c.cluster, strings.TrimSuffix(db, "."), name, LocalSuffix, c.keys[name])
}

func (c *clusterer) statement(s string) ([]string, error) {
	cluster := c.cluster
	on := " ON CLUSTER " + cluster
	if m := createTableRE.FindStringSubmatch(s); m != nil {
		ifne, db, name, cols, kind, args, rest := m[1], m[2], m[3], m[4], m[5], strings.TrimSpace(m[7]), m[8]
		if strings.HasPrefix(strings.ToUpper(kind), "REPLICATED") {
			return nil, fmt.Errorf("table %s is already replicated", name)
		}
		if db == "" {
			return nil, fmt.Errorf("table %s: name its database (${db}.%s), which the replication path needs", name, name)
		}
		key, err := shardKey(cols, rest)
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", name, err)
		}
		local := name + LocalSuffix
		zkPath := "'/clickhouse/tables/{shard}/" + strings.TrimSuffix(db, ".") + "/" + local + "'"
		engineArgs := zkPath + ", '{replica}'"
		if args != "" {
			engineArgs += ", " + args
		}
		storage := fmt.Sprintf("CREATE TABLE %s%s%s%s (%s) ENGINE = Replicated%sMergeTree(%s)%s",
			ifne, db, local, on, cols, kind, engineArgs, rest)
		c.keys[name] = key
		return []string{storage, c.distributed(db, name)}, nil
	}
	if m := createOtherRE.FindStringSubmatch(s); m != nil {
		return nil, fmt.Errorf("engine %s of table %s cannot be clustered: use a MergeTree-family engine", m[4], m[3])
	}
	if m := createMatToRE.FindStringSubmatch(s); m != nil {
		return c.materialized(m[1], m[2], m[3], m[4], m[5], m[6])
	}
	if createMatRE.MatchString(s) {
		return nil, fmt.Errorf("a materialized view on a cluster needs TO a MergeTree-family table: its inner storage would not be replicated")
	}
	if m := createViewRE.FindStringSubmatch(s); m != nil {
		return []string{fmt.Sprintf("CREATE %sVIEW %s%s%s%s %s", m[1], m[2], m[3], m[4], on, m[5])}, nil
	}
	if m := alterRE.FindStringSubmatch(s); m != nil {
		db, name, rest := m[1], m[2], m[3]
		out := []string{fmt.Sprintf("ALTER TABLE %s%s%s%s %s", db, name, LocalSuffix, on, rest)}
		if columnActRE.MatchString(rest) {
			if _, ok := c.keys[name]; !ok {
				return nil, fmt.Errorf("table %s: no earlier CREATE TABLE gives its sharding key", name)
			}
			out = append(out, fmt.Sprintf("DROP TABLE IF EXISTS %s%s%s", db, name, on), c.distributed(db, name))
		}
		return out, nil
	}
	if m := dropRE.FindStringSubmatch(s); m != nil {
		kind, ifex, db, name := strings.ToUpper(m[1]), m[2], m[3], m[4]
		out := []string{fmt.Sprintf("DROP %s %s%s%s%s", kind, ifex, db, name, on)}
		if kind == "TABLE" {
			out = append(out, fmt.Sprintf("DROP TABLE IF EXISTS %s%s%s%s", db, name, LocalSuffix, on))
			delete(c.keys, name)
		}
		return out, nil
	}
	if insertRE.MatchString(s) {
		return []string{s}, nil
	}
	return nil, fmt.Errorf("no cluster form for this statement: extend sink.ClusterStatements")
}

// materialized rewrites CREATE MATERIALIZED VIEW v TO t AS SELECT ... FROM
// s: each node's view reads the inserts into its own storage table s_local
// (where the Distributed s puts every row) and writes to its t_local, which
// replicates like any other. Rows of one key of t may then sit on several
// shards, so t must be a table that queries aggregate (an
// AggregatingMergeTree of states, or sums), never one read with FINAL.
func (c *clusterer) materialized(ifne, db, name, toDB, to, sel string) ([]string, error) {
	if _, ok := c.keys[to]; !ok {
		return nil, fmt.Errorf("materialized view %s: no earlier CREATE TABLE of its target %s", name, to)
	}
	var bad error
	sel = fromTableRE.ReplaceAllStringFunc(sel, func(f string) string {
		m := fromTableRE.FindStringSubmatch(f)
		if _, ok := c.keys[m[3]]; !ok {
			bad = fmt.Errorf("materialized view %s reads %s, which is not a clustered table", name, m[3])
			return f
		}
		return m[1] + " " + m[2] + m[3] + LocalSuffix
	})
	if bad != nil {
		return nil, bad
	}
	return []string{fmt.Sprintf("CREATE MATERIALIZED VIEW %s%s%s ON CLUSTER %s TO %s%s%s %s", ifne, db, name, c.cluster, toDB, to, LocalSuffix, sel)}, nil
}

// shardKey picks the first of ShardKeyColumns the table has, else a hash
// of the first sorting column.
func shardKey(cols, rest string) (string, error) {
	names := map[string]bool{}
	for _, c := range splitTopLevel(cols) {
		if f := strings.Fields(c); len(f) > 0 {
			names[strings.Trim(f[0], "`\"")] = true
		}
	}
	for _, c := range ShardKeyColumns {
		if names[c] {
			return c, nil
		}
	}
	m := orderByRE.FindStringSubmatch(rest)
	if m == nil {
		return "", fmt.Errorf("no ORDER BY to shard by")
	}
	first := strings.TrimSpace(m[2])
	if first == "" {
		first = strings.TrimSpace(m[3])
	}
	if first == "" || strings.EqualFold(first, "tuple") {
		return "", fmt.Errorf("no sorting column to shard by")
	}
	return "cityHash64(" + first + ")", nil
}

// splitTopLevel splits a column list at the commas outside parentheses.
func splitTopLevel(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func firstWords(s string) string {
	f := strings.Fields(s)
	if len(f) > 4 {
		f = f[:4]
	}
	return strings.Join(f, " ")
}

// MigrationSQL returns every statement that migrating an empty database
// runs, on one server or ON CLUSTER, with the database named: what
// `jevons migrate --print` shows and the chDB check parses. It ignores
// min-version headers (the server is not known).
func MigrationSQL(database, cluster string, migs []Migration) ([]string, error) {
	create := "CREATE DATABASE IF NOT EXISTS " + database
	if cluster != "" {
		create += " ON CLUSTER " + cluster
	}
	out := []string{create}
	all := append([]Migration{{Name: "schema_migrations", Statements: []string{migrationsTable}}}, migs...)
	if cluster != "" {
		var err error
		if all, err = ClusterMigrations(all, cluster); err != nil {
			return nil, err
		}
	}
	for _, m := range all {
		for _, s := range m.Statements {
			out = append(out, strings.ReplaceAll(s, "${db}", database))
		}
	}
	return out, nil
}
