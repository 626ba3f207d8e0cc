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
	create := func(table string) string {
		return "CREATE TABLE IF NOT EXISTS ${db}." + table + " (\n    g String,\n    at DateTime('UTC')\n) ENGINE = ReplacingMergeTree(v)\nORDER BY g"
	}
	folded := func(table string, cols ...string) string {
		return "CREATE TABLE IF NOT EXISTS ${db}." + table + " (\n    g String,\n    at DateTime('UTC'),\n    " + strings.Join(cols, ",\n    ") + "\n) ENGINE = ReplacingMergeTree(v)\nORDER BY g"
	}
	add := func(table, col string) string {
		return "ALTER TABLE ${db}." + table + " ADD COLUMN IF NOT EXISTS " + col
	}
	for _, c := range []struct {
		name  string
		later []string // statements of the migrations after the one creating t
		want  string
	}{
		{"plain columns in order", []string{add("t", "catalog String DEFAULT ''"), add("t", "n Int64 DEFAULT 0"), add("t", "f Decimal(18, 4)")},
			folded("t", "catalog String DEFAULT ''", "n Int64 DEFAULT 0", "f Decimal(18, 4)")},
		{"another table's column", []string{add("u", "catalog String")}, create("t")},
		{"up to a placed column", []string{add("t", "a UInt8"), add("t", "b UInt8 AFTER g"), add("t", "c UInt8")}, folded("t", "a UInt8")},
		{"up to another change", []string{add("t", "a UInt8"), "ALTER TABLE ${db}.t DROP COLUMN at", add("t", "c UInt8")}, folded("t", "a UInt8")},
		{"up to a drop", []string{add("t", "a UInt8"), "DROP TABLE IF EXISTS ${db}.t", add("t", "c UInt8")}, folded("t", "a UInt8")},
		{"not a column it has", []string{add("t", "at DateTime"), add("t", "c UInt8")}, create("t")},
		{"not twice", []string{add("t", "c UInt8"), add("t", "c UInt8")}, folded("t", "c UInt8")},
		{"not a sharding key", []string{add("t", "partition UInt32")}, create("t")},
		{"not a computed default", []string{add("t", "y UInt8 DEFAULT x + 1")}, create("t")},
		{"not a second clause", []string{add("t", "y UInt8, DROP COLUMN at")}, create("t")},
		{"not with a comment", []string{add("t", "y UInt8 -- why")}, create("t")},
	} {
		migs := []Migration{{Version: 1, Statements: []string{create("t")}}}
		for i, s := range c.later {
			migs = append(migs, Migration{Version: i + 2, Statements: []string{s}})
		}
		out := foldAddedColumns(migs, func(int) bool { return true }, func(string) bool { return false })
		if out[0].Statements[0] != c.want {
			t.Errorf("%s:\n%s\nwant:\n%s", c.name, out[0].Statements[0], c.want)
		}
		if migs[0].Statements[0] != create("t") {
			t.Fatalf("%s: the caller's migrations were changed", c.name)
		}
	}
	migs := []Migration{{Version: 1, Statements: []string{create("t")}}, {Version: 2, Statements: []string{add("t", "a UInt8")}},
		{Version: 3, Statements: []string{add("t", "gated UInt8")}}, {Version: 4, Statements: []string{add("t", "c UInt8")}}}
	// An existing table, and an applied migration, are left as they are;
	// a migration the server is too old for is not folded.
	if out := foldAddedColumns(migs, func(int) bool { return true }, func(t string) bool { return t == "t" }); out[0].Statements[0] != create("t") {
		t.Errorf("an existing table was changed: %s", out[0].Statements[0])
	}
	if out := foldAddedColumns(migs, func(i int) bool { return i > 0 }, func(string) bool { return false }); out[0].Statements[0] != create("t") {
		t.Errorf("an applied migration was changed: %s", out[0].Statements[0])
	}
	if out := foldAddedColumns(migs, func(i int) bool { return i != 2 }, func(string) bool { return false }); out[0].Statements[0] != folded("t", "a UInt8", "c UInt8") {
		t.Errorf("with a gated migration:\n%s", out[0].Statements[0])
	}
	// A comment in the CREATE leaves it alone.
	withComment := []Migration{{Version: 1, Statements: []string{strings.Replace(create("t"), "g String,", "g String, -- the group", 1)}}, {Version: 2, Statements: []string{add("t", "a UInt8")}}}
	if out := foldAddedColumns(withComment, func(int) bool { return true }, func(string) bool { return false }); out[0].Statements[0] != withComment[0].Statements[0] {
		t.Errorf("a CREATE with a comment was changed: %s", out[0].Statements[0])
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

// A new database runs no ADD COLUMN (ClickHouse 18.16 sometimes never
// applies one on a replica), and ends with exactly the columns, types, defaults and
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
		if u := strings.ToUpper(q); strings.HasPrefix(strings.TrimSpace(u), "ALTER") && strings.Contains(u, "ADD COLUMN") {
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
