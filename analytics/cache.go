package analytics

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The task figures of a period are the slow part of a report: distinct
// tasks are unions of sets, and per-task statistics group every task window
// of the period by task. Once computed they are kept in table report_cache,
// keyed by what was asked (figure, slice, period, look-back) and by a
// digest of the table parts the period reads: the active parts (name, rows,
// modification time) of its monthly partitions. ClickHouse parts are
// immutable and every insert, merge or mutation replaces the set of active
// parts, so a cached row whose digest matches the current parts holds
// exactly what computing again would return. A past month with no new
// rows is read back; the month still receiving flushes is computed.
//
// What a period reads must therefore depend on its own partitions only: the
// tasks of a period are counted from its days' sets, and its per-task
// statistics take the task windows from TaskLookback before its start to
// its end (taskStats), never later ones.
//
// The cache is an optimisation only. A database without the table (a
// server not yet migrated), a read-only user or a cluster (system.parts
// shows one server's parts) computes every period, with the same result.

// cacheTable is the table of cached task figures (migration 0009).
const cacheTable = "report_cache"

// cacheVersion is part of every key: a release that changes how a cached
// figure is computed changes it, so rows of an earlier release are never
// read.
const cacheVersion = 1

// periodCache holds, for one figure over a report's periods, what the cache
// had and what is needed to store the rest.
type periodCache struct {
	q        *Querier
	keys     []string          // per period; nil when the cache is off
	parts    []string          // per period: the digest of its parts
	payload  []json.RawMessage // per period: nil when it must be computed
	tables   []string
	lookback time.Duration
}

// openCache looks up figure kind of every period: its parts are those of
// tables in the months from the period's start minus lookback to its end.
// The cache is off for this figure, and every period computed, unless
// every table stores its own parts (a MergeTree; not a Distributed table,
// whose parts system.parts does not show), and on any error.
func (q *Querier) openCache(ctx context.Context, kind string, tables []string, lookback time.Duration, s Slice, providerModels []string, periods []Period) *periodCache {
	pc := &periodCache{q: q, payload: make([]json.RawMessage, len(periods))}
	if !q.Cache || !q.ownParts(ctx, tables) {
		return pc
	}
	parts, err := q.digests(ctx, tables, lookback, periods)
	if err != nil {
		return pc
	}
	if s.Provider == "" {
		providerModels = nil // they only matter to a provider's slice
	} else {
		providerModels = slices.Compact(slices.Sorted(slices.Values(providerModels)))
	}
	keys := make([]string, len(periods))
	for i, p := range periods {
		keys[i] = cacheKey(q.db, kind, s, providerModels, p, lookback)
	}
	quoted := make([]string, len(keys))
	for i, k := range keys {
		quoted[i] = quote(k)
	}
	rows, err := q.conn.Query(ctx, "SELECT key, parts, payload FROM "+q.db+"."+cacheTable+
		" WHERE key IN ("+strings.Join(quoted, ", ")+")")
	if err != nil {
		return pc
	}
	defer rows.Close()
	index := make(map[string]int, len(keys))
	for i, k := range keys {
		index[k] = i
	}
	for rows.Next() {
		var k, d, payload string
		if err := rows.Scan(&k, &d, &payload); err != nil {
			clear(pc.payload)
			return pc
		}
		if i, ok := index[k]; ok && d == parts[i] {
			pc.payload[i] = json.RawMessage(payload)
		}
	}
	if rows.Err() != nil {
		clear(pc.payload)
		return pc
	}
	pc.keys, pc.parts, pc.tables, pc.lookback = keys, parts, tables, lookback
	return pc
}

// ownParts reports whether every table is a MergeTree of this server.
func (q *Querier) ownParts(ctx context.Context, tables []string) bool {
	quoted := make([]string, len(tables))
	for i, t := range tables {
		quoted[i] = quote(t)
	}
	rows, err := q.conn.Query(ctx, "SELECT name, engine FROM system.tables WHERE database = "+quote(q.db)+
		" AND name IN ("+strings.Join(quoted, ", ")+")")
	if err != nil {
		return false
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var name, engine string
		if err := rows.Scan(&name, &engine); err != nil || !strings.HasSuffix(engine, "MergeTree") {
			return false
		}
		n++
	}
	return rows.Err() == nil && n == len(tables)
}

// digests returns, per period, the digest of the active parts of tables
// in the months from the period's start minus lookback to its end, and of
// every part outside monthly partitions.
func (q *Querier) digests(ctx context.Context, tables []string, lookback time.Duration, periods []Period) ([]string, error) {
	from, to := periods[0].Start.Add(-lookback), periods[len(periods)-1].End
	byMonth := make([]map[string]string, len(tables))
	for i, table := range tables {
		var err error
		if byMonth[i], err = q.monthParts(ctx, table, from, to); err != nil {
			return nil, err
		}
	}
	out := make([]string, len(periods))
	for i, p := range periods {
		h := sha256.New()
		for j, table := range tables {
			fmt.Fprintf(h, "%s/other:%s;", table, byMonth[j][otherPartitions])
			for _, m := range months(p.Start.Add(-lookback), p.End) {
				fmt.Fprintf(h, "%s/%s:%s;", table, m, byMonth[j][m])
			}
		}
		out[i] = hex.EncodeToString(h.Sum(nil))
	}
	return out, nil
}

// misses returns the periods the cache did not hold, in order.
func (pc *periodCache) misses(periods []Period) (idx []int, ps []Period) {
	for i, p := range periods {
		if pc.payload[i] == nil {
			idx, ps = append(idx, i), append(ps, p)
		}
	}
	return idx, ps
}

// store keeps the figures computed for periods idx, when the parts they
// were read from are still those of the lookup (a part that landed between
// the two could be detached again later; such a figure is not kept).
// Periods not yet over are not kept: their parts change with the next
// flush. A failed insert (a read-only user) is ignored: the figures
// returned are the computed ones.
func (pc *periodCache) store(ctx context.Context, periods []Period, idx []int, values []any) {
	if pc.keys == nil {
		return
	}
	now := pc.q.now()
	parts, err := pc.q.digests(ctx, pc.tables, pc.lookback, periods)
	if err != nil {
		return
	}
	b, err := pc.q.conn.PrepareBatch(ctx, "INSERT INTO "+pc.q.db+"."+cacheTable+" (key, parts, payload, computed_at)")
	if err != nil {
		return
	}
	n := 0
	for j, i := range idx {
		if periods[i].End.After(now) || parts[i] != pc.parts[i] {
			continue
		}
		payload, err := json.Marshal(values[j])
		if err != nil {
			_ = b.Abort()
			return
		}
		if err := b.Append(pc.keys[i], pc.parts[i], string(payload), now.UTC()); err != nil {
			_ = b.Abort()
			return
		}
		n++
	}
	if n == 0 {
		_ = b.Abort()
		return
	}
	_ = b.Send()
}

// otherPartitions is the monthParts entry of the parts outside partitions
// named YYYYMM.
const otherPartitions = "other"

// monthParts lists the active parts of table's monthly partitions
// (partition ids YYYYMM, as toYYYYMM of the partition key) from from's
// month to to's, per month, and under otherPartitions every part of a
// partition not named so (which any period may read).
func (q *Querier) monthParts(ctx context.Context, table string, from, to time.Time) (map[string]string, error) {
	ms := months(from, to)
	rows, err := q.conn.Query(ctx, "SELECT partition_id, name, toUInt64(rows), toUInt32(modification_time) FROM system.parts"+
		" WHERE database = "+quote(q.db)+" AND table = "+quote(table)+" AND active"+
		" AND (partition_id >= "+quote(ms[0])+" AND partition_id <= "+quote(ms[len(ms)-1])+
		" OR NOT match(partition_id, '^[0-9]{6}$'))"+
		" ORDER BY partition_id, name")
	if err != nil {
		return nil, fmt.Errorf("read the parts of %s: %w", table, err)
	}
	defer rows.Close()
	lists := map[string]*strings.Builder{}
	for rows.Next() {
		var id, name string
		var n uint64
		var mtime uint32
		if err := rows.Scan(&id, &name, &n, &mtime); err != nil {
			return nil, fmt.Errorf("scan the parts of %s: %w", table, err)
		}
		if !monthID.MatchString(id) {
			id = otherPartitions
		}
		if lists[id] == nil {
			lists[id] = &strings.Builder{}
		}
		fmt.Fprintf(lists[id], "%s/%d/%d,", name, n, mtime)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the parts of %s: %w", table, err)
	}
	out := make(map[string]string, len(lists))
	for id, b := range lists {
		out[id] = b.String()
	}
	return out, nil
}

var monthID = regexp.MustCompile(`^[0-9]{6}$`)

// months lists the UTC months (YYYYMM) that [from, to) touches.
func months(from, to time.Time) []string {
	var out []string
	from, to = from.UTC(), to.UTC()
	for m := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC); m.Before(to); m = m.AddDate(0, 1, 0) {
		out = append(out, m.Format("200601"))
	}
	if len(out) == 0 {
		out = append(out, from.Format("200601"))
	}
	return out
}

// cacheKey digests what a figure of one period depends on besides the data.
func cacheKey(db, kind string, s Slice, providerModels []string, p Period, lookback time.Duration) string {
	b, _ := json.Marshal(struct {
		Version         int
		DB, Kind        string
		Slice           Slice
		Models          []string
		Start, End      time.Time
		LookbackSeconds float64
	}{cacheVersion, db, kind, s, providerModels, p.Start.UTC(), p.End.UTC(), lookback.Seconds()})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
