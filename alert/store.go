package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Store keeps the alert history and the outbox in ClickHouse (migration
// 0005): the outbox makes a notification's delivery survive a crash, the
// history is what users query.
type Store struct {
	conn driver.Conn
	db   string
	now  func() time.Time
}

// NewStore returns a store on database db.
func NewStore(conn driver.Conn, db string, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{conn: conn, db: db, now: now}
}

// outboxRow is one notification in the outbox.
type outboxRow struct {
	Key, State string
	Seq        uint32
	Owner      string
	Rule       string
	GroupKey   string
	Job        Job
	Done       bool
}

// Delivered reports whether (key, state, seq) was already delivered
// (done), and whether it is in the outbox at all.
func (s *Store) Delivered(ctx context.Context, key, state string, seq uint32) (done, known bool, err error) {
	rows, err := s.conn.Query(ctx, fmt.Sprintf("SELECT max(done), count() FROM %s.alert_outbox WHERE idempotency_key = %s AND state = %s AND seq = %d",
		s.db, quote(key), quote(state), seq))
	if err != nil {
		return false, false, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var d uint8
	var n uint64
	if rows.Next() {
		if err := rows.Scan(&d, &n); err != nil {
			return false, false, fmt.Errorf("read outbox: %w", err)
		}
	}
	return d == 1, n > 0, rows.Err()
}

// PutOutbox writes the outbox row of a job (done or not).
func (s *Store) PutOutbox(ctx context.Context, j *Job, done bool) error {
	payload, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("encode outbox payload: %w", err)
	}
	var d uint8
	if done {
		d = 1
	}
	now := s.now()
	batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.db+".alert_outbox (idempotency_key, state, seq, owner, rule, group_key, payload, done, version, written_at)")
	if err != nil {
		return fmt.Errorf("write outbox: %w", err)
	}
	n := &j.N
	// The version grows with the wall clock; done outranks an intent of
	// the same instant.
	if err := batch.Append(n.Key, n.State, uint32(n.Repeat), j.Owner, n.Rule, j.GroupKey, string(payload), d, uint64(now.UnixNano())+uint64(d), now.UTC()); err != nil {
		_ = batch.Abort()
		return fmt.Errorf("write outbox: %w", err)
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("write outbox: %w", err)
	}
	return nil
}

// Undelivered returns the owner's notifications stored but not delivered,
// oldest first.
func (s *Store) Undelivered(ctx context.Context, owner string) ([]Job, error) {
	rows, err := s.conn.Query(ctx, fmt.Sprintf("SELECT payload FROM %s.alert_outbox FINAL WHERE owner = %s AND done = 0 ORDER BY version",
		s.db, quote(owner)))
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		var j Job
		if err := json.Unmarshal([]byte(p), &j); err != nil {
			return nil, fmt.Errorf("decode outbox payload: %w", err)
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// WriteHistory appends one state change to the alerts table.
func (s *Store) WriteHistory(ctx context.Context, j *Job, state string, notified, failed []string) error {
	n := &j.N
	figs, _ := json.Marshal(n.Figures)
	names, values := make([]string, 0, len(n.Labels)), make([]string, 0, len(n.Labels))
	for _, k := range sortedKeys(n.Labels) {
		names, values = append(names, k), append(values, n.Labels[k])
	}
	var resolved time.Time
	if n.ResolvedAt != nil {
		resolved = *n.ResolvedAt
	}
	now := s.now()
	batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.db+".alerts (changed_at, changed_ms, rule, kind, group_key, label_names, label_values, state, value, threshold, started_at, resolved_at, idempotency_key, seq, notified, failed, figures, owner)")
	if err != nil {
		return fmt.Errorf("write alert history: %w", err)
	}
	if notified == nil {
		notified = []string{}
	}
	if failed == nil {
		failed = []string{}
	}
	if err := batch.Append(now.UTC(), uint64(now.UnixMilli()), n.Rule, n.Kind, j.GroupKey, names, values, state, j.Value, j.Threshold,
		clampTime(n.StartedAt), clampTime(resolved), n.Key, uint32(n.Repeat), notified, failed, string(figs), j.Owner); err != nil {
		_ = batch.Abort()
		return fmt.Errorf("write alert history: %w", err)
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("write alert history: %w", err)
	}
	return nil
}

// clampTime keeps a time inside what DateTime stores (zero: the epoch).
func clampTime(t time.Time) time.Time {
	if t.Before(time.Unix(0, 0)) {
		return time.Unix(0, 0).UTC()
	}
	return t.UTC()
}

// instanceRow is the latest recorded state of one period-rule instance.
type instanceRow struct {
	Rule, GroupKey, State, Key string
	Seq                        uint32
	StartedAt                  time.Time
	ChangedAt                  time.Time
}

// LatestStates returns, per (rule, group_key) of an owner, the newest
// recorded state change.
func (s *Store) LatestStates(ctx context.Context, owner string) ([]instanceRow, error) {
	q := fmt.Sprintf(`SELECT rule, group_key, argMax(state, changed_ms), argMax(idempotency_key, changed_ms), argMax(seq, changed_ms),
       argMax(started_at, changed_ms), max(changed_at)
FROM %s.alerts WHERE owner = %s GROUP BY rule, group_key`, s.db, quote(owner))
	rows, err := s.conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read alert states: %w", err)
	}
	defer rows.Close()
	var out []instanceRow
	for rows.Next() {
		var r instanceRow
		if err := rows.Scan(&r.Rule, &r.GroupKey, &r.State, &r.Key, &r.Seq, &r.StartedAt, &r.ChangedAt); err != nil {
			return nil, fmt.Errorf("read alert states: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
