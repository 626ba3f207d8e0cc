package sink

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/internal/itest"
	"github.com/jevonsdev/jevons/schemas"
)

func TestLoadMigrationsReadsVersionsAndMarkers(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_codecs.sql": {Data: []byte("-- jevons:min-version 20.3\nALTER TABLE ${db}.t MODIFY COLUMN a UInt8 CODEC(LZ4);\n")},
		"m/0001_init.sql":   {Data: []byte("-- tables\nCREATE TABLE ${db}.t (a UInt8) ENGINE = Memory;\nCREATE VIEW ${db}.v AS SELECT a FROM ${db}.t;\n")},
		"m/queries.sql":     {Data: []byte("SELECT 1;")},
	}
	migs, err := LoadMigrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(migs) != 2 || migs[0].Version != 1 || migs[1].Version != 2 || len(migs[0].Statements) != 2 {
		t.Fatalf("got %+v", migs)
	}
	if migs[0].MinServer != nil || fmt.Sprint(migs[1].MinServer) != "[20 3]" {
		t.Fatalf("min versions %v %v", migs[0].MinServer, migs[1].MinServer)
	}
}

func TestVersionLessComparesNumerically(t *testing.T) {
	tests := []struct {
		a, b []int
		want bool
	}{
		{[]int{18, 16, 1}, []int{20, 3}, true},
		{[]int{20, 3}, []int{20, 3, 0}, false},
		{[]int{24, 1}, []int{20, 3}, false},
		{[]int{9, 9}, []int{10}, true},
	}
	for _, tt := range tests {
		if got := versionLess(tt.a, tt.b); got != tt.want {
			t.Errorf("versionLess(%v, %v) = %v", tt.a, tt.b, got)
		}
	}
}

// On the real server (Debian's 18.16 here, current ones for users): the
// embedded migrations apply, the version-gated one is skipped with its
// reason, a second run changes nothing, and every documented query runs.
func TestMigrateOnRealClickHouse(t *testing.T) {
	addr := itest.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := DefaultConfig()
	cfg.Addr, cfg.Database = addr, fmt.Sprintf("jevons_migtest_%d", time.Now().UnixNano())
	conn, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	defer conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+cfg.Database)

	migs, err := LoadMigrations(schemas.ClickHouse, "clickhouse")
	if err != nil {
		t.Fatal(err)
	}
	version, err := ServerVersion(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Migrate(ctx, conn, cfg.Database, migs, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	var gated int
	for _, m := range migs {
		if m.MinServer != nil && versionLess(version, m.MinServer) {
			gated++
		}
	}
	if len(res.Applied) != len(migs)-gated || len(res.Skipped) != gated {
		t.Fatalf("server %s: applied %v, skipped %v", res.Server, res.Applied, res.Skipped)
	}
	if versionLess(version, []int{20, 3}) && (gated == 0 || !strings.Contains(res.Skipped[0], "needs ClickHouse 20.3")) {
		t.Fatalf("old server %s did not skip the codec migration: %v", res.Server, res.Skipped)
	}
	again, err := Migrate(ctx, conn, cfg.Database, migs, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Applied) != 0 || len(again.Already) != len(res.Applied) {
		t.Fatalf("second run: %+v", again)
	}
	// A crash between applying and recording: every migration runs again,
	// ADD COLUMN IF NOT EXISTS included on servers without the clause.
	if err := conn.Exec(ctx, "DROP TABLE "+cfg.Database+".schema_migrations"); err != nil {
		t.Fatal(err)
	}
	if redo, err := Migrate(ctx, conn, cfg.Database, migs, zap.NewNop()); err != nil || len(redo.Applied) != len(res.Applied) {
		t.Fatalf("migrations applied again after their record was lost: %+v, %v", redo, err)
	}

	qs, err := schemas.ClickHouse.ReadFile("clickhouse/queries.sql")
	if err != nil {
		t.Fatal(err)
	}
	q, err := parseMigration("queries.sql", string(qs))
	if err != nil {
		t.Fatal(err)
	}
	for i, stmt := range q.Statements {
		rows, err := conn.Query(ctx, strings.ReplaceAll(stmt, "${db}", cfg.Database))
		if err != nil {
			t.Fatalf("documented query %d: %v\n%s", i+1, err, stmt)
		}
		for rows.Next() {
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("documented query %d: %v", i+1, err)
		}
		rows.Close()
	}
}

func TestFoldAddedColumnsCreatesNewTablesAtTheirFinalShape(t *testing.T) {
	migs := []Migration{
		{Version: 1, Statements: []string{
			"CREATE TABLE IF NOT EXISTS ${db}.cp (\n    g String,\n    at DateTime('UTC')\n) ENGINE = ReplacingMergeTree(v)\nORDER BY g",
			"CREATE TABLE IF NOT EXISTS ${db}.old (a UInt8) ENGINE = MergeTree ORDER BY a",
			"CREATE TABLE IF NOT EXISTS ${db}.gone (a UInt8) ENGINE = MergeTree ORDER BY a",
		}},
		{Version: 2, Statements: []string{
			"ALTER TABLE ${db}.cp ADD COLUMN IF NOT EXISTS catalog String DEFAULT ''",
			"ALTER TABLE ${db}.old ADD COLUMN IF NOT EXISTS b UInt8",
			"DROP TABLE IF EXISTS ${db}.gone",
			"ALTER TABLE ${db}.gone ADD COLUMN IF NOT EXISTS b UInt8",
		}},
		{Version: 3, Statements: []string{"ALTER TABLE ${db}.cp ADD COLUMN IF NOT EXISTS first_col UInt8 FIRST"}},
		{Version: 4, Statements: []string{"ALTER TABLE ${db}.cp ADD COLUMN IF NOT EXISTS n Int64 DEFAULT 0"}},
		{Version: 5, Statements: []string{"ALTER TABLE ${db}.cp ADD COLUMN IF NOT EXISTS gated UInt8"}},
	}
	pending := func(i int) bool { return migs[i].Version != 5 } // 5 needs a newer server
	exists := func(table string) bool { return table == "old" }
	out := foldAddedColumns(migs, pending, exists)
	want := "CREATE TABLE IF NOT EXISTS ${db}.cp (\n    g String,\n    at DateTime('UTC'),\n    catalog String DEFAULT '',\n    n Int64 DEFAULT 0\n) ENGINE = ReplacingMergeTree(v)\nORDER BY g"
	if out[0].Statements[0] != want {
		t.Fatalf("new table:\n%s\nwant:\n%s", out[0].Statements[0], want)
	}
	if out[0].Statements[1] != migs[0].Statements[1] {
		t.Fatalf("an existing table was changed: %s", out[0].Statements[1])
	}
	if out[0].Statements[2] != migs[0].Statements[2] {
		t.Fatalf("a column added after the table is dropped and made anew was folded: %s", out[0].Statements[2])
	}
	if migs[0].Statements[0] == want {
		t.Fatal("the caller's migrations were changed")
	}
	// An applied migration is left as it is.
	out = foldAddedColumns(migs, func(i int) bool { return i > 0 && i != 4 }, func(string) bool { return false })
	if out[0].Statements[0] != migs[0].Statements[0] {
		t.Fatalf("an applied migration was changed: %s", out[0].Statements[0])
	}
}

// execRecorder records the statements a migration runs.
type execRecorder struct {
	driver.Conn
	execs []string
}

func (r *execRecorder) Exec(ctx context.Context, query string, args ...any) error {
	r.execs = append(r.execs, query)
	return r.Conn.Exec(ctx, query, args...)
}

// A new database runs no ALTER (ClickHouse 18.16 sometimes never applies
// one on a replica), and ends with exactly the columns, types, defaults and
// order of a database upgraded one migration at a time.
func TestNewDatabaseRunsNoAlterAndMatchesAnUpgradedOne(t *testing.T) {
	addr := itest.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := DefaultConfig()
	cfg.Addr = addr
	conn, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	migs, err := LoadMigrations(schemas.ClickHouse, "clickhouse")
	if err != nil {
		t.Fatal(err)
	}
	stamp := time.Now().UnixNano()
	fresh, upgraded := fmt.Sprintf("jevons_fold_new_%d", stamp), fmt.Sprintf("jevons_fold_up_%d", stamp)
	for _, db := range []string{fresh, upgraded} {
		defer conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
	}
	rec := &execRecorder{Conn: conn}
	if _, err := Migrate(ctx, rec, fresh, migs, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	for _, q := range rec.execs {
		if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(q)), "ALTER") {
			t.Errorf("a new database ran %s", q)
		}
	}
	for i := range migs {
		if _, err := Migrate(ctx, conn, upgraded, migs[:i+1], zap.NewNop()); err != nil {
			t.Fatal(err)
		}
	}
	columns := func(db string) string { // every table's DESCRIBE, in column order
		tables, err := tableNames(ctx, conn, db)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, table := range slices.Sorted(maps.Keys(tables)) {
			rows, err := conn.Query(ctx, "DESCRIBE TABLE "+db+"."+table)
			if err != nil {
				t.Fatal(err)
			}
			vals := make([]string, len(rows.Columns()))
			ptrs := make([]any, len(vals))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			for rows.Next() {
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&b, "%s: %s\n", table, strings.Join(vals, " "))
			}
			rows.Close()
		}
		return b.String()
	}
	a, b := columns(fresh), columns(upgraded)
	if a != b || !strings.Contains(a, "consumer_checkpoints: catalog_from Int64") {
		t.Fatalf("new database's columns:\n%s\nupgraded database's:\n%s", a, b)
	}
}
