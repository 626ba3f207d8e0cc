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

// ShardKeyColumn is the sharding key of every table that has it. Every
// state key of the aggregator includes its source partition, so all rows
// of one key land on one shard and FINAL on each shard stays exact.
const ShardKeyColumn = "src_partition"

var (
	createTableRE = regexp.MustCompile(`(?is)^CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?((?:\$\{db\}|\w+)\.)?(\w+)\s*\((.*)\)\s*ENGINE\s*=\s*(\w*)MergeTree\b(\s*\(([^)]*)\))?(.*)$`)
	createOtherRE = regexp.MustCompile(`(?is)^CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?((?:\$\{db\}|\w+)\.)?(\w+).*ENGINE\s*=\s*(\w+)`)
	createViewRE  = regexp.MustCompile(`(?is)^CREATE\s+(OR\s+REPLACE\s+)?VIEW\s+(IF\s+NOT\s+EXISTS\s+)?((?:\$\{db\}|\w+)\.)?(\w+)\s+(AS\s.*)$`)
	createMatRE   = regexp.MustCompile(`(?is)^CREATE\s+MATERIALIZED\s+VIEW\b`)
	alterRE       = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+((?:\$\{db\}|\w+)\.)?(\w+)\s+(.*)$`)
	dropRE        = regexp.MustCompile(`(?is)^DROP\s+(TABLE|VIEW)\s+(IF\s+EXISTS\s+)?((?:\$\{db\}|\w+)\.)?(\w+)\s*$`)
	insertRE      = regexp.MustCompile(`(?is)^INSERT\s+INTO\s`)
	columnNameRE  = regexp.MustCompile(`(?m)^\s*` + "`?" + `(\w+)` + "`?" + `\s+\w`)
	orderByRE     = regexp.MustCompile(`(?is)\bORDER\s+BY\s+(\(\s*([^,)]+)|([^\s,()]+))`)
	columnActRE   = regexp.MustCompile(`(?i)\b(ADD|DROP|MODIFY|RENAME|COMMENT|CLEAR)\s+COLUMN\b`)
	codecRE       = regexp.MustCompile(`(?i)\s+CODEC\s*\(`)
)

// ClusterStatements rewrites one migration's statements for a ClickHouse
// cluster, so that the single-node migration files stay the one source of
// the schema. Statements keep their ${db} placeholder.
//
//   - CREATE TABLE t (...) ENGINE = XMergeTree(args) becomes the storage
//     table t_local ON CLUSTER with ReplicatedXMergeTree('/clickhouse/tables/{shard}/<db>/t_local',
//     '{replica}', args), and t becomes a Distributed table over it, sharded
//     by src_partition when the table has that column, else by
//     cityHash64 of the first ORDER BY column (every row of one sorting
//     key, so of one ReplacingMergeTree key, lands on one shard).
//   - CREATE VIEW gains ON CLUSTER; the view reads the Distributed tables,
//     so it sums across shards.
//   - ALTER TABLE t alters t_local ON CLUSTER; a column change is made on
//     the Distributed t as well (without CODEC, which only storage has).
//   - DROP TABLE/VIEW gains ON CLUSTER; DROP TABLE drops t_local too.
//   - INSERT INTO t is kept: it goes through the Distributed table.
//
// Anything else, materialized views and engines outside the MergeTree
// family included, is an error naming the statement: a migration must not
// half-apply on a cluster.
func ClusterStatements(stmts []string, cluster string) ([]string, error) {
	if !identRE.MatchString(cluster) {
		return nil, fmt.Errorf("cluster %q is not a plain identifier", cluster)
	}
	var out []string
	for i, s := range stmts {
		got, err := clusterStatement(strings.TrimSpace(s), cluster)
		if err != nil {
			return nil, fmt.Errorf("statement %d (%s): %w", i+1, firstWords(s), err)
		}
		out = append(out, got...)
	}
	return out, nil
}

func clusterStatement(s, cluster string) ([]string, error) {
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
		dist := fmt.Sprintf("CREATE TABLE %s%s%s%s AS %s%s ENGINE = Distributed(%s, %s, %s, %s)",
			ifne, db, name, on, db, local, cluster, strings.TrimSuffix(db, "."), local, key)
		return []string{storage, dist}, nil
	}
	if m := createOtherRE.FindStringSubmatch(s); m != nil {
		return nil, fmt.Errorf("engine %s of table %s cannot be clustered: use a MergeTree-family engine", m[4], m[3])
	}
	if createMatRE.MatchString(s) {
		return nil, fmt.Errorf("materialized views are not rewritten for a cluster: write the view over a plain table or extend ClusterStatements")
	}
	if m := createViewRE.FindStringSubmatch(s); m != nil {
		return []string{fmt.Sprintf("CREATE %sVIEW %s%s%s%s %s", m[1], m[2], m[3], m[4], on, m[5])}, nil
	}
	if m := alterRE.FindStringSubmatch(s); m != nil {
		db, name, rest := m[1], m[2], m[3]
		out := []string{fmt.Sprintf("ALTER TABLE %s%s%s%s %s", db, name, LocalSuffix, on, rest)}
		if columnActRE.MatchString(rest) {
			out = append(out, fmt.Sprintf("ALTER TABLE %s%s%s %s", db, name, on, stripCodecs(rest)))
		}
		return out, nil
	}
	if m := dropRE.FindStringSubmatch(s); m != nil {
		kind, ifex, db, name := strings.ToUpper(m[1]), m[2], m[3], m[4]
		out := []string{fmt.Sprintf("DROP %s %s%s%s%s", kind, ifex, db, name, on)}
		if kind == "TABLE" {
			out = append(out, fmt.Sprintf("DROP TABLE IF EXISTS %s%s%s%s", db, name, LocalSuffix, on))
		}
		return out, nil
	}
	if insertRE.MatchString(s) {
		return []string{s}, nil
	}
	return nil, fmt.Errorf("no cluster form for this statement: extend sink.ClusterStatements")
}

// shardKey picks src_partition when the table has it, else a hash of the
// first sorting column.
func shardKey(cols, rest string) (string, error) {
	for _, m := range columnNameRE.FindAllStringSubmatch(cols, -1) {
		if m[1] == ShardKeyColumn {
			return ShardKeyColumn, nil
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

// stripCodecs drops CODEC(...) clauses, nested parentheses included.
func stripCodecs(s string) string {
	for {
		loc := codecRE.FindStringIndex(s)
		if loc == nil {
			return s
		}
		depth, end := 0, len(s)
		for i := loc[1] - 1; i < len(s); i++ {
			if s[i] == '(' {
				depth++
			} else if s[i] == ')' {
				depth--
				if depth == 0 {
					end = i + 1
					break
				}
			}
		}
		s = s[:loc[0]] + s[end:]
	}
}

func firstWords(s string) string {
	f := strings.Fields(s)
	if len(f) > 4 {
		f = f[:4]
	}
	return strings.Join(f, " ")
}
