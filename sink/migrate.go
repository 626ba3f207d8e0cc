package sink

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.uber.org/zap"
)

// Migration is one versioned SQL file: NNNN_name.sql.
type Migration struct {
	Version    int
	Name       string
	MinServer  []int // from a "-- jevons:min-version X.Y" line; nil: any server
	Statements []string
	Checksum   string
}

var (
	fileRE       = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)
	minVersionRE = regexp.MustCompile(`(?m)^-- jevons:min-version (\d+(?:\.\d+)*)\s*$`)
	stmtSplitRE  = regexp.MustCompile(`;\s*(?:\n|$)`)
	// addColumnRE matches an ALTER that adds one column if it is missing.
	addColumnRE = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+(\$\{db\}\.)?(\w+)\s+(?:ON\s+CLUSTER\s+\w+\s+)?ADD\s+COLUMN\s+IF\s+NOT\s+EXISTS\s+(\w+)\s`)
)

// LoadMigrations reads NNNN_name.sql files from dir in fsys, in order.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		m := fileRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		data, err := fs.ReadFile(fsys, dir+"/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		mig, err := parseMigration(e.Name(), string(data))
		if err != nil {
			return nil, err
		}
		mig.Version, _ = strconv.Atoi(m[1])
		mig.Name = m[2]
		if len(out) > 0 && out[len(out)-1].Version == mig.Version {
			return nil, fmt.Errorf("migrations %04d_%s and %s share a version", mig.Version, out[len(out)-1].Name, e.Name())
		}
		out = append(out, mig)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

func parseMigration(file, text string) (Migration, error) {
	sum := sha256.Sum256([]byte(text))
	mig := Migration{Checksum: hex.EncodeToString(sum[:8])}
	if m := minVersionRE.FindStringSubmatch(text); m != nil {
		v, err := parseVersion(m[1])
		if err != nil {
			return mig, fmt.Errorf("migration %s: %w", file, err)
		}
		mig.MinServer = v
	}
	var body []string
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			body = append(body, line)
		}
	}
	for _, s := range stmtSplitRE.Split(strings.Join(body, "\n"), -1) {
		if s = strings.TrimSpace(s); s != "" {
			mig.Statements = append(mig.Statements, s)
		}
	}
	if len(mig.Statements) == 0 {
		return mig, fmt.Errorf("migration %s has no statements", file)
	}
	return mig, nil
}

// MigrateResult says what a run did.
type MigrateResult struct {
	Server  string
	Applied []string
	Skipped []string // with the reason
	Already []string
}

// Migrate creates the database and applies every migration not yet
// recorded in schema_migrations, in order, on a single server. See
// MigrateCluster.
func Migrate(ctx context.Context, conn driver.Conn, database string, migs []Migration, log *zap.Logger) (MigrateResult, error) {
	return MigrateCluster(ctx, conn, database, "", migs, log)
}

// MigrateCluster creates the database and applies every migration not yet
// recorded in schema_migrations, in order. Migrations that need a newer
// server are skipped and logged each run, so they apply once the server is
// upgraded. Statements are idempotent (IF NOT EXISTS, MODIFY; ADD COLUMN IF
// NOT EXISTS, one column per statement, also on servers that lack it), so a
// crash between applying and recording is repaired by the next run. A
// table that does not exist yet is created with the columns later pending
// migrations add to it (foldAddedColumns).
//
// With a cluster name, every statement is rewritten by ClusterStatements
// and runs ON CLUSTER (replicated storage, Distributed tables, views on
// every node); schema_migrations itself is clustered the same way. Once
// schema_migrations exists, a run that has nothing to apply runs no DDL, so
// a restart does not wait for every node of the cluster.
func MigrateCluster(ctx context.Context, conn driver.Conn, database, cluster string, migs []Migration, log *zap.Logger) (MigrateResult, error) {
	var res MigrateResult
	version, err := ServerVersion(ctx, conn)
	if err != nil {
		return res, err
	}
	res.Server = formatVersion(version)
	if !identRE.MatchString(database) {
		return res, fmt.Errorf("database %q is not a plain identifier", database)
	}
	if cluster != "" && !identRE.MatchString(cluster) {
		return res, fmt.Errorf("cluster %q is not a plain identifier", cluster)
	}
	if err := ensureMigrationsTable(ctx, conn, database, cluster); err != nil {
		return res, err
	}
	applied, err := appliedMigrations(ctx, conn, database)
	if err != nil {
		return res, err
	}
	tables, err := tableNames(ctx, conn, database)
	if err != nil {
		return res, err
	}
	pending := func(i int) bool {
		_, done := applied[migs[i].Version]
		return !done && (migs[i].MinServer == nil || !versionLess(version, migs[i].MinServer))
	}
	ddl := foldAddedColumns(migs, pending, func(t string) bool { return tables[t] || tables[t+LocalSuffix] })
	if cluster != "" {
		if ddl, err = ClusterMigrations(ddl, cluster); err != nil {
			return res, err
		}
	}
	for mi, m := range migs {
		id := fmt.Sprintf("%04d_%s", m.Version, m.Name)
		if sum, ok := applied[m.Version]; ok {
			if sum != m.Checksum {
				log.Warn("applied migration changed since it was applied", zap.String("migration", id))
			}
			res.Already = append(res.Already, id)
			continue
		}
		if m.MinServer != nil && versionLess(version, m.MinServer) {
			reason := fmt.Sprintf("%s: needs ClickHouse %s, server is %s", id, formatVersion(m.MinServer), res.Server)
			log.Info("migration skipped", zap.String("migration", id), zap.String("reason", reason))
			res.Skipped = append(res.Skipped, reason)
			continue
		}
		for i, stmt := range ddl[mi].Statements {
			stmt, err := addColumnIfMissing(ctx, conn, database, stmt)
			if err == nil && stmt != "" {
				err = conn.Exec(ctx, strings.ReplaceAll(stmt, "${db}", database))
			}
			if err != nil {
				return res, fmt.Errorf("migration %s statement %d of %d: %w", id, i+1, len(ddl[mi].Statements), err)
			}
		}
		if err := recordMigration(ctx, conn, database, m); err != nil {
			return res, fmt.Errorf("record migration %s: %w", id, err)
		}
		log.Info("migration applied", zap.String("migration", id), zap.String("cluster", cluster))
		res.Applied = append(res.Applied, id)
	}
	return res, nil
}

var (
	// foldCreateRE splits a CREATE TABLE IF NOT EXISTS at the end of its
	// column list.
	foldCreateRE = regexp.MustCompile(`(?is)^(CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+\$\{db\}\.(\w+)\s*\((.*?))(\s*\)\s*ENGINE\s*=.*)$`)
	// foldAddRE matches an ALTER adding one plain column if missing, at the
	// end: a name, a type, and at most a literal default.
	foldAddRE = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+\$\{db\}\.(\w+)\s+ADD\s+COLUMN\s+IF\s+NOT\s+EXISTS\s+(\w+)\s+(\w+(?:\([\w\s',]*\))?(?:\s+DEFAULT\s+(?:-?[0-9.]+|'[^'\\]*'))?)\s*$`)
	// foldAlterRE finds any other ALTER of table $1, and foldTouchRE a
	// statement that drops or creates table $2 anew.
	foldAlterRE = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+\$\{db\}\.(\w+)\b`)
	foldTouchRE = regexp.MustCompile(`(?is)^(DROP|CREATE)\s+TABLE\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?\$\{db\}\.(\w+)\b`)
)

// foldAddedColumns returns migs with each table that a pending migration
// creates, and that does not exist yet, created with the columns that later
// pending migrations add to it, in their order, so a new database starts at
// its final shape and those ALTERs find their columns and do nothing.
// ClickHouse 18.16 sometimes never applies an ALTER of a replicated table
// on one of its replicas (ClickHouse issue 7529), which holds every later
// ON CLUSTER statement back; a new deployment runs no such ALTER.
//
// Only what gives the same table as the ALTERs is folded: plain columns
// (ALTER TABLE t ADD COLUMN IF NOT EXISTS c Type [DEFAULT literal], the
// statement's only clause, appended at the end), up to the first other
// change of the table (another ALTER, a DROP or a new CREATE), never a
// column the table already has, nor a sharding-key column (ShardKeyColumns:
// it would shard a new cluster unlike an upgraded one), nor into a
// statement with a comment. Checksums stay those of the files; an existing
// table keeps its ALTERs.
func foldAddedColumns(migs []Migration, pending func(int) bool, exists func(table string) bool) []Migration {
	out := make([]Migration, len(migs))
	copy(out, migs)
	for i := range out {
		if !pending(i) {
			continue
		}
		var stmts []string
		for si, stmt := range out[i].Statements {
			m := foldCreateRE.FindStringSubmatch(stmt)
			if m == nil || exists(m[2]) || strings.Contains(stmt, "--") {
				continue
			}
			table := m[2]
			have := map[string]bool{}
			for _, c := range splitTopLevel(m[3]) {
				if f := strings.Fields(c); len(f) > 0 {
					have[strings.Trim(f[0], "`\"")] = true
				}
			}
			var cols []string
			later := func(j, from int) bool { // false: the table changes otherwise from here
				for _, s := range migs[j].Statements[from:] {
					if t := foldTouchRE.FindStringSubmatch(s); t != nil && t[2] == table {
						return false
					}
					a := foldAlterRE.FindStringSubmatch(s)
					if a == nil || a[1] != table {
						continue
					}
					if !pending(j) {
						continue // not run in this migration: gated by the server's version
					}
					add := foldAddRE.FindStringSubmatch(s)
					if add == nil || have[add[2]] || slices.Contains(ShardKeyColumns, add[2]) {
						return false
					}
					have[add[2]] = true
					cols = append(cols, add[2]+" "+strings.TrimSpace(add[3]))
				}
				return true
			}
			if later(i, si+1) {
				for j := i + 1; j < len(migs) && later(j, 0); j++ {
				}
			}
			if len(cols) == 0 {
				continue
			}
			if stmts == nil {
				stmts = append([]string(nil), out[i].Statements...)
			}
			stmts[si] = m[1] + ",\n    " + strings.Join(cols, ",\n    ") + m[4]
		}
		if stmts != nil {
			out[i].Statements = stmts
		}
	}
	return out
}

// tableNames lists the tables and views of database.
func tableNames(ctx context.Context, conn driver.Conn, database string) (map[string]bool, error) {
	rows, err := conn.Query(ctx, "SELECT name FROM system.tables WHERE database = ?", database)
	if err != nil {
		return nil, fmt.Errorf("list tables of %s: %w", database, err)
	}
	defer rows.Close()
	names := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list tables of %s: %w", database, err)
		}
		names[n] = true
	}
	return names, rows.Err()
}

// addColumnIfMissing gives ALTER TABLE t ADD COLUMN IF NOT EXISTS c (one
// column per statement) to servers that lack the clause (18.16): it returns
// "" if the column exists, or the statement without the clause.
func addColumnIfMissing(ctx context.Context, conn driver.Conn, database, stmt string) (string, error) {
	m := addColumnRE.FindStringSubmatchIndex(stmt)
	if m == nil {
		return stmt, nil
	}
	table, column := stmt[m[4]:m[5]], stmt[m[6]:m[7]]
	if strings.Count(strings.ToUpper(stmt), "ADD COLUMN") != 1 {
		return "", fmt.Errorf("add column %s to %s: ADD COLUMN IF NOT EXISTS must be the statement's only clause", column, table)
	}
	rows, err := conn.Query(ctx, "SELECT 1 FROM system.columns WHERE database = ? AND table = ? AND name = ?", database, table, column)
	if err != nil {
		return "", fmt.Errorf("look for column %s.%s: %w", table, column, err)
	}
	exists := rows.Next()
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("look for column %s.%s: %w", table, column, err)
	}
	if exists {
		return "", nil
	}
	clause := regexp.MustCompile(`(?i)\s+IF\s+NOT\s+EXISTS\s+` + column + `\s`)
	return clause.ReplaceAllLiteralString(stmt, " "+column+" "), nil
}

const migrationsTable = `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations (
		version UInt32, name String, checksum String, applied_at DateTime('UTC')
	) ENGINE = ReplacingMergeTree() ORDER BY version`

func ensureMigrationsTable(ctx context.Context, conn driver.Conn, database, cluster string) error {
	if cluster != "" {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = 'schema_migrations'", database).Scan(&n); err != nil {
			return fmt.Errorf("look for schema_migrations: %w", err)
		}
		if n > 0 {
			return nil
		}
		if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+database+" ON CLUSTER "+cluster); err != nil {
			return fmt.Errorf("create database %s on cluster %s: %w", database, cluster, err)
		}
	} else if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+database); err != nil {
		return fmt.Errorf("create database %s: %w", database, err)
	}
	stmts := []string{migrationsTable}
	if cluster != "" {
		var err error
		if stmts, err = ClusterStatements(stmts, cluster); err != nil {
			return err
		}
	}
	for _, s := range stmts {
		if err := conn.Exec(ctx, strings.ReplaceAll(s, "${db}", database)); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
	}
	return nil
}

func appliedMigrations(ctx context.Context, conn driver.Conn, database string) (map[int]string, error) {
	rows, err := conn.Query(ctx, "SELECT version, checksum FROM "+database+".schema_migrations FINAL")
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	out := map[int]string{}
	for rows.Next() {
		var v uint32
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		out[int(v)] = sum
	}
	return out, rows.Err()
}

// recordMigration inserts through a batch with an explicit column list, the
// insert form that ClickHouse 18.16 accepts from clickhouse-go.
func recordMigration(ctx context.Context, conn driver.Conn, database string, m Migration) error {
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+database+".schema_migrations (version, name, checksum, applied_at)")
	if err != nil {
		return err
	}
	if err := b.Append(uint32(m.Version), m.Name, m.Checksum, time.Now().UTC()); err != nil {
		_ = b.Abort()
		return err
	}
	return b.Send()
}
