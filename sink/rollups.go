package sink

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/schemas"
)

// The usage state tables: the same columns at three resolutions.
const (
	UsageTable        = "usage_rollup"         // the aggregator's window (1 minute by default)
	UsageDailyTable   = "usage_daily_rollup"   // the UTC day
	UsageMonthlyTable = "usage_monthly_rollup" // the UTC calendar month
	TaskTable         = "task_rollup"
)

// UsageTables are the usage state tables, finest first.
var UsageTables = []string{UsageTable, UsageDailyTable, UsageMonthlyTable}

// checkUsageTable reports a table that is not one of UsageTables.
func checkUsageTable(what, table string) error {
	for _, t := range UsageTables {
		if table == t {
			return nil
		}
	}
	return fmt.Errorf("%s: %q is not a usage table", what, table)
}

// Batch is what a flush makes durable: rollup states, then the checkpoints
// that say which offsets those states cover.
type Batch struct {
	Usage       []UsageRows
	Tasks       schemas.TaskCols
	Checkpoints []schemas.Checkpoint
}

// UsageRows are usage states bound for one usage table (UsageTable,
// UsageDailyTable or UsageMonthlyTable).
type UsageRows struct {
	Table string
	Cols  schemas.UsageCols
}

// Store reads and writes the rollup tables of one database. Writes from
// all partitions are group-committed: concurrent Write calls share one
// insert per table.
type Store struct {
	conn     driver.Conn
	db       string
	log      *zap.Logger
	requests chan *writeRequest
	done     chan struct{}

	// OnInsert, if set, observes each successful insert (table, rows, duration);
	// OnError each failed attempt. Both run on the writer goroutine.
	OnInsert func(table string, rows int, d time.Duration)
	OnError  func(err error)
}

type writeRequest struct {
	ctx   context.Context
	batch *Batch
	reply chan error
}

// NewStore starts the group-commit writer; Close stops it.
func NewStore(conn driver.Conn, database string, log *zap.Logger) *Store {
	s := &Store{conn: conn, db: database, log: log, requests: make(chan *writeRequest, 1024), done: make(chan struct{})}
	go s.writer()
	return s
}

// Close stops the writer after the requests already queued.
func (s *Store) Close() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
}

// Write makes the batch durable, retrying with jittered backoff while the
// server is down, until ctx ends. Rows go in before checkpoints.
func (s *Store) Write(ctx context.Context, b *Batch) error {
	req := &writeRequest{ctx: ctx, batch: b, reply: make(chan error, 1)}
	select {
	case s.requests <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) writer() {
	for {
		var reqs []*writeRequest
		select {
		case r := <-s.requests:
			reqs = append(reqs, r)
		case <-s.done:
			return
		}
	drain:
		for {
			select {
			case r := <-s.requests:
				reqs = append(reqs, r)
			default:
				break drain
			}
		}
		batches := make([]*Batch, len(reqs))
		for i, r := range reqs {
			batches[i] = r.batch
		}
		err := s.writeWithRetry(reqs, batches)
		for _, r := range reqs {
			r.reply <- err
		}
	}
}

// writeWithRetry retries until success or until every waiting caller gave up.
func (s *Store) writeWithRetry(reqs []*writeRequest, b []*Batch) error {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err := s.insertAll(ctx, b)
		cancel()
		if err == nil {
			return nil
		}
		if s.OnError != nil {
			s.OnError(err)
		}
		live := false
		for _, r := range reqs {
			live = live || r.ctx.Err() == nil
		}
		if !live {
			return fmt.Errorf("write rollups: gave up after %d attempts: %w", attempt, err)
		}
		s.log.Warn("clickhouse write failed; retrying", zap.Int("attempt", attempt), zap.Duration("backoff", backoff), zap.Error(err))
		sleep := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		select {
		case <-time.After(sleep):
		case <-s.done:
			return errors.New("write rollups: store closed")
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// insertAll writes every table's rows of the merged batches, one insert per
// table, column by column; checkpoints last. Each batch's columns are
// appended to the insert as they are: no merged copy.
func (s *Store) insertAll(ctx context.Context, bs []*Batch) error {
	now := time.Now().UTC()
	var usage [][]columns // by table, in order of first appearance
	var tables []string
	tasks := make([]columns, 0, len(bs))
	var ckpts [][]any
	for _, b := range bs {
		for i := range b.Usage {
			u := &b.Usage[i]
			j := slices.Index(tables, u.Table)
			if j < 0 {
				j = len(tables)
				tables, usage = append(tables, u.Table), append(usage, nil)
			}
			usage[j] = append(usage[j], &u.Cols)
		}
		tasks = append(tasks, &b.Tasks)
		for i := range b.Checkpoints {
			ckpts = append(ckpts, b.Checkpoints[i].Values(now))
		}
	}
	for i, table := range tables {
		if err := s.insertColumns(ctx, table, schemas.UsageColumns, usage[i], now); err != nil {
			return err
		}
	}
	if err := s.insertColumns(ctx, TaskTable, schemas.TaskColumns, tasks, now); err != nil {
		return err
	}
	if len(ckpts) == 0 {
		return nil
	}
	batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.db+".consumer_checkpoints ("+schemas.CheckpointColumns+")")
	if err != nil {
		return fmt.Errorf("insert consumer_checkpoints: %w", err)
	}
	for _, v := range ckpts {
		if err := batch.Append(v...); err != nil {
			_ = batch.Abort()
			return fmt.Errorf("insert consumer_checkpoints: %w", err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert consumer_checkpoints: %w", err)
	}
	return nil
}

// columns are rows column by column, in a table's column order but its
// last column, written_at.
type columns interface {
	Len() int
	Columns() []any
}

// insertColumns sends the rows with an explicit column list (the form
// ClickHouse 18.16 accepts from clickhouse-go): each part's columns, then
// written_at, in blocks of at most blockRows rows. The driver copies the
// columns into its own, and after each block it reuses them: the copy of
// a large insert costs one block, not the whole insert twice over (its
// columns grown by doubling). An INSERT holds at most insertBlocks blocks:
// a current server answers every block of an INSERT with a packet the
// driver reads only at its end, and enough of them unread would fill the
// socket and stall the server.
func (s *Store) insertColumns(ctx context.Context, table, columnList string, parts []columns, writtenAt time.Time) error {
	n := 0
	for _, p := range parts {
		n += p.Len()
	}
	if n == 0 {
		return nil
	}
	start := time.Now()
	query := "INSERT INTO " + s.db + "." + table + " (" + columnList + ")"
	batch, err := s.conn.PrepareBatch(ctx, query)
	if err != nil {
		return fmt.Errorf("insert %s: %w", table, err)
	}
	written := make([]int64, min(n, blockRows))
	for i := range written {
		written[i] = writtenAt.Unix()
	}
	inBlock, blocks := 0, 0
	for _, p := range parts {
		cols := p.Columns()
		for lo, rows := 0, p.Len(); lo < rows; {
			if batch == nil { // the last INSERT held insertBlocks blocks
				if batch, err = s.conn.PrepareBatch(ctx, query); err != nil {
					return fmt.Errorf("insert %s: %w", table, err)
				}
			}
			hi := min(rows, lo+blockRows-inBlock)
			for i := range len(cols) + 1 {
				c := any(written[:hi-lo])
				if i < len(cols) {
					c = rowRange(cols[i], lo, hi)
				}
				if err := batch.Column(i).Append(c); err != nil {
					_ = batch.Abort()
					return fmt.Errorf("insert %s column %d: %w", table, i, err)
				}
			}
			inBlock += hi - lo
			lo = hi
			if inBlock < blockRows {
				continue
			}
			// Flush, unlike Send, does not end with the context: the
			// attempt's deadline is checked here.
			if err := ctx.Err(); err != nil {
				_ = batch.Abort()
				return fmt.Errorf("insert %s: %w", table, err)
			}
			if err := batch.Flush(); err != nil {
				_ = batch.Abort()
				return fmt.Errorf("insert %s: %w", table, err)
			}
			inBlock, blocks = 0, blocks+1
			if blocks == insertBlocks {
				if err := batch.Send(); err != nil {
					return fmt.Errorf("insert %s: %w", table, err)
				}
				batch, blocks = nil, 0 // the next opens when rows are left
			}
		}
	}
	if batch != nil {
		if err := batch.Send(); err != nil {
			return fmt.Errorf("insert %s: %w", table, err)
		}
	}
	if s.OnInsert != nil {
		s.OnInsert(table, n, time.Since(start))
	}
	return nil
}

// blockRows is the most rows the driver holds of an insert: a block of
// rows is sent when it has this many; insertBlocks is the most blocks of
// one INSERT (answers of about 1.3 KB each, far below a socket's buffer).
// Variables for tests.
var blockRows, insertBlocks = 1 << 14, 32

// rowRange returns rows lo to hi of a column slice.
func rowRange(c any, lo, hi int) any {
	switch c := c.(type) {
	case []string:
		return c[lo:hi]
	case []uint64:
		return c[lo:hi]
	case []int64:
		return c[lo:hi]
	case []uint32:
		return c[lo:hi]
	case []uint8:
		return c[lo:hi]
	case [][]string:
		return c[lo:hi]
	}
	panic(fmt.Sprintf("sink: no row range of a %T column", c))
}

// LoadCheckpoint returns the newest checkpoint of a partition.
func (s *Store) LoadCheckpoint(ctx context.Context, group, topic string, partition uint32) (schemas.Checkpoint, bool, error) {
	c := schemas.Checkpoint{Group: group, Topic: topic, Partition: partition}
	q := "SELECT flushed_through, replay_from, replay_max_time, catalog, catalog_from FROM " + s.db + ".consumer_checkpoints FINAL " +
		"WHERE consumer_group = " + quote(group) + " AND topic = " + quote(topic) + " AND partition = " + strconv.Itoa(int(partition)) +
		" ORDER BY version DESC LIMIT 1"
	rows, err := s.conn.Query(ctx, q)
	if err != nil {
		return c, false, fmt.Errorf("load checkpoint: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return c, false, rows.Err()
	}
	if err := rows.Scan(&c.FlushedThrough, &c.ReplayFrom, &c.ReplayMaxTime, &c.Catalog, &c.CatalogFrom); err != nil {
		return c, false, fmt.Errorf("load checkpoint: %w", err)
	}
	return c, true, nil
}

// OtherCheckpoints reports whether another consumer group has checkpoints
// of the topic's partition in this database: states stored there were
// counted by that group.
func (s *Store) OtherCheckpoints(ctx context.Context, group, topic string, partition uint32) (bool, error) {
	rows, err := s.conn.Query(ctx, "SELECT 1 FROM "+s.db+".consumer_checkpoints WHERE consumer_group != "+quote(group)+
		" AND topic = "+quote(topic)+" AND partition = "+strconv.Itoa(int(partition))+" LIMIT 1")
	if err != nil {
		return false, fmt.Errorf("look for other groups' checkpoints: %w", err)
	}
	defer rows.Close()
	return rows.Next(), rows.Err()
}

// UsageKey names one usage state of a usage table.
type UsageKey struct {
	Window                                                    int64 // unix ms
	Tenant, App, TaskType, Provider, Model, Operation, Status string
}

// LoadUsage returns a partition's stored usage states of table (UsageTable,
// UsageDailyTable or UsageMonthlyTable) with window_start >= from (unix ms;
// math.MinInt64 for all), or only the listed ones.
func (s *Store) LoadUsage(ctx context.Context, table string, partition uint32, from int64, keys []UsageKey) ([]schemas.UsageRow, error) {
	if err := checkUsageTable("load usage states", table); err != nil {
		return nil, err
	}
	query := "SELECT " + strings.TrimSuffix(schemas.UsageColumns, ", written_at") + " FROM " + s.db + "." + table
	if len(keys) == 0 {
		return loadRows(ctx, s.conn, table+" states", query+" FINAL WHERE "+windowFilter(partition, from), (*schemas.UsageRow).Pointers)
	}
	rows, err := loadKeys(ctx, s.conn, table+" states", keys, query+" WHERE src_partition = "+strconv.Itoa(int(partition))+
		" AND (window_start, tenant, app, task_type, provider, model, operation, status) IN _keys",
		[]string{"window_start DateTime", "tenant String", "app String", "task_type String", "provider String", "model String", "operation String", "status String"},
		func(k *UsageKey) []any {
			return []any{time.UnixMilli(k.Window).UTC(), k.Tenant, k.App, k.TaskType, k.Provider, k.Model, k.Operation, k.Status}
		}, (*schemas.UsageRow).Pointers)
	return newest(rows, func(r *schemas.UsageRow) UsageKey {
		return UsageKey{r.WindowStart.Unix(), r.Tenant, r.App, r.TaskType, r.Provider, r.Model, r.Operation, r.Status}
	}, func(r *schemas.UsageRow) uint64 { return r.Version }), err
}

// newest keeps the highest version of each key, as FINAL would: a key load
// reads without FINAL, which would merge every stored state in the ranges
// read before filtering the few keys asked for. Two rows of one key and
// version are the same state (states are deterministic).
func newest[T any, K comparable](rows []T, key func(*T) K, version func(*T) uint64) []T {
	at := make(map[K]int, len(rows))
	out := rows[:0]
	for i := range rows {
		k := key(&rows[i])
		if j, ok := at[k]; !ok {
			at[k] = len(out)
			out = append(out, rows[i])
		} else if version(&rows[i]) > version(&out[j]) {
			out[j] = rows[i]
		}
	}
	return out
}

// loadKeysChunk is how many keys one load query carries. The keys travel
// as an external table (data, not query text), so no key length can push
// a query over ClickHouse's max_query_size or its AST limits, and the
// server builds the set from a block instead of parsing literals.
const loadKeysChunk = 20_000

// loadKeys loads the rows of keys in chunks; query filters by the external
// table _keys of the given columns, filled from row.
func loadKeys[K, T any](ctx context.Context, conn driver.Conn, what string, keys []K, query string, columns []string,
	row func(*K) []any, ptrs func(*T) []any) ([]T, error) {
	var out []T
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), loadKeysChunk)]
		keys = keys[len(chunk):]
		var cols []func(*ext.Table) error
		for _, c := range columns {
			name, typ, _ := strings.Cut(c, " ")
			cols = append(cols, ext.Column(name, column.Type(typ)))
		}
		tbl, err := ext.NewTable("_keys", cols...)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", what, err)
		}
		for i := range chunk {
			if err := tbl.Append(row(&chunk[i])...); err != nil {
				return nil, fmt.Errorf("load %s: %w", what, err)
			}
		}
		rows, err := loadRows(clickhouse.Context(ctx, clickhouse.WithExternalTable(tbl)), conn, what, query, ptrs)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

// loadRows runs a query and scans each row into a T through ptrs.
func loadRows[T any](ctx context.Context, conn driver.Conn, what, query string, ptrs func(*T) []any) ([]T, error) {
	rows, err := conn.Query(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var r T
		if err := rows.Scan(ptrs(&r)...); err != nil {
			return nil, fmt.Errorf("load %s: %w", what, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ScanUsageKeys calls add with the key of each stored state of a partition
// in table (one of UsageTables) with window_start >= from (unix
// ms), streaming; a key whose older versions are not merged yet comes more
// than once. The key is reused between calls.
func (s *Store) ScanUsageKeys(ctx context.Context, table string, partition uint32, from int64, add func(*UsageKey)) error {
	if err := checkUsageTable("scan usage keys", table); err != nil {
		return err
	}
	var k UsageKey
	var w time.Time
	return scanRows(ctx, s.conn, table+" keys", "SELECT window_start, tenant, app, task_type, provider, model, operation, status FROM "+
		s.db+"."+table+" WHERE "+windowFilter(partition, from),
		[]any{&w, &k.Tenant, &k.App, &k.TaskType, &k.Provider, &k.Model, &k.Operation, &k.Status},
		func() { k.Window = w.UnixMilli(); add(&k) })
}

// ScanTaskKeys calls add with the key of each stored task partial of a
// partition with window_start >= from, as ScanUsageKeys does.
func (s *Store) ScanTaskKeys(ctx context.Context, partition uint32, from int64, add func(*TaskKey)) error {
	var k TaskKey
	var w time.Time
	return scanRows(ctx, s.conn, "task keys", "SELECT window_start, tenant, task_id FROM "+s.db+"."+TaskTable+" WHERE "+windowFilter(partition, from),
		[]any{&w, &k.Tenant, &k.TaskID}, func() { k.Window = w.UnixMilli(); add(&k) })
}

// scanRows runs a query and, for each row, scans it into dest and calls f.
func scanRows(ctx context.Context, conn driver.Conn, what, query string, dest []any, f func()) error {
	rows, err := conn.Query(ctx, query)
	if err != nil {
		return fmt.Errorf("scan %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("scan %s: %w", what, err)
		}
		f()
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan %s: %w", what, err)
	}
	return nil
}

// TaskKey names one task partial.
type TaskKey struct {
	Window         int64 // unix ms
	Tenant, TaskID string
}

// LoadTasks returns a partition's stored task partials with window_start >=
// from, or only the listed ones.
func (s *Store) LoadTasks(ctx context.Context, partition uint32, from int64, keys []TaskKey) ([]schemas.TaskRow, error) {
	query := "SELECT " + strings.TrimSuffix(schemas.TaskColumns, ", written_at") + " FROM " + s.db + "." + TaskTable
	if len(keys) == 0 {
		return loadRows(ctx, s.conn, "task states", query+" FINAL WHERE "+windowFilter(partition, from), (*schemas.TaskRow).Pointers)
	}
	rows, err := loadKeys(ctx, s.conn, "task states", keys, query+" WHERE src_partition = "+strconv.Itoa(int(partition))+
		" AND tenant IN (SELECT tenant FROM _keys) AND task_id IN (SELECT task_id FROM _keys) AND (window_start, tenant, task_id) IN _keys",
		[]string{"window_start DateTime", "tenant String", "task_id String"},
		func(k *TaskKey) []any { return []any{time.UnixMilli(k.Window).UTC(), k.Tenant, k.TaskID} }, (*schemas.TaskRow).Pointers)
	return newest(rows, func(r *schemas.TaskRow) TaskKey { return TaskKey{r.WindowStart.Unix(), r.Tenant, r.TaskID} },
		func(r *schemas.TaskRow) uint64 { return r.Version }), err
}

// LastTaskWindow returns the newest task window (unix ms) a partition has
// any stored task partial in at or after from; ok is false when it has none.
func (s *Store) LastTaskWindow(ctx context.Context, partition uint32, from int64) (last int64, ok bool, err error) {
	var n uint64
	var w time.Time
	q := "SELECT toUInt64(count()), max(window_start) FROM " + s.db + "." + TaskTable + " WHERE " + windowFilter(partition, from)
	if err := s.conn.QueryRow(ctx, q).Scan(&n, &w); err != nil {
		return 0, false, fmt.Errorf("newest stored task window: %w", err)
	}
	return w.UnixMilli(), n > 0, nil
}

func windowFilter(partition uint32, from int64) string {
	f := "src_partition = " + strconv.Itoa(int(partition))
	if from > -62135596800000 { // after year 1: a real bound
		f += " AND window_start >= toDateTime(" + strconv.FormatInt(max(floorDiv(from, 1000), 0), 10) + ")"
	}
	return f
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// quote renders a string literal for ClickHouse.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
