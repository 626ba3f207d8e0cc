package alert_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/alert/notify"
	"github.com/jevonsdev/jevons/internal/itest"
	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/sink"
)

// receiver is a local webhook endpoint that verifies signatures and
// records what it got.
type receiver struct {
	*httptest.Server
	secret []byte
	mu     sync.Mutex
	got    []notify.Notification
	at     []time.Time
	bad    int
	// refuse, if set, answers 503 to the notifications it returns true for
	refuse  func(n notify.Notification) bool
	refused int
}

func newReceiver(t testing.TB, secret string) *receiver {
	r := &receiver{secret: []byte(secret)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if !notify.Verify(r.secret, body, req.Header.Get(notify.SignatureHeader)) {
			r.bad++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var n notify.Notification
		if err := json.Unmarshal(body, &n); err != nil {
			r.bad++
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if r.refuse != nil && r.refuse(n) {
			r.refused++
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		r.got = append(r.got, n)
		r.at = append(r.at, time.Now())
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) all() []notify.Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notify.Notification(nil), r.got...)
}

// waitFor polls until cond holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}

// chEnv is a fresh, migrated database on the real ClickHouse.
type chEnv struct {
	conn driver.Conn
	db   string
	cfg  sink.Config
}

func newCH(t testing.TB) *chEnv {
	t.Helper()
	cfg := sink.DefaultConfig()
	cfg.Addr = itest.ClickHouse(t)
	cfg.Database = fmt.Sprintf("it_alert_%s_%d", strings.ToLower(strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())), time.Now().UnixNano()%1e9)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := sink.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	migs, err := sink.LoadMigrations(schemas.ClickHouse, "clickhouse")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Migrate(ctx, conn, cfg.Database, migs, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+cfg.Database)
		conn.Close()
	})
	return &chEnv{conn: conn, db: cfg.Database, cfg: cfg}
}

// usage writes one usage state (as the aggregator would) with a version.
func (e *chEnv) usage(t testing.TB, window time.Time, tenant, model string, costUSD float64, requests uint64, version uint64) {
	t.Helper()
	e.usageRow(t, window, tenant, model, costUSD, costUSD, requests*1000, requests*100, requests, version)
}

// usageRow writes one usage state with every figure the economics read.
func (e *chEnv) usageRow(t testing.TB, window time.Time, tenant, model string, costUSD, refUSD float64, input, output, requests, version uint64) {
	t.Helper()
	ctx := context.Background()
	b, err := e.conn.PrepareBatch(ctx, "INSERT INTO "+e.db+".usage_rollup (src_partition, window_start, tenant, app, task_type, provider, model, operation, status, requests, input_tokens, output_tokens, cost_nanos, ref_cost_nanos, version, written_at)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(uint32(0), window.UTC(), tenant, "app", "chat", "openai", model, "chat", "ok", requests, input, output,
		int64(costUSD*1e9), int64(refUSD*1e9), version, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

func writeRules(t testing.TB, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func amAlertsNamed(t testing.TB, base, name string) []map[string]any {
	t.Helper()
	resp, err := http.Get(base + "/api/v2/alerts?filter=alertname%3D%22" + name + "%22")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}
