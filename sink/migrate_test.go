package sink

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

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
