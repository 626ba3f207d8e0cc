package sink

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/jevonsdev/jevons/secure"
)

// Config says how to reach ClickHouse over the native protocol.
type Config struct {
	Addr        string        // host:port of the native protocol, e.g. 127.0.0.1:9000; a comma list fails over in order
	Database    string        // the Jevons database, default "jevons"
	Username    string        // default "default"
	Password    secure.Secret // default empty
	TLS         secure.TLS    // the native protocol over TLS (the server's tcp_port_secure)
	DialTimeout time.Duration // default 5s
	// Cluster, when set, is the ClickHouse cluster (remote_servers) the
	// schema is created on: migrations run ON CLUSTER with replicated
	// storage and Distributed tables, and every session uses ClusterSettings.
	Cluster string
}

// DefaultConfig returns the local defaults.
func DefaultConfig() Config {
	return Config{Addr: "127.0.0.1:9000", Database: "jevons", Username: "default", DialTimeout: 5 * time.Second}
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate reports every problem with the config.
func (c Config) Validate() error {
	var errs []string
	if c.Addr == "" {
		errs = append(errs, "clickhouse address is empty")
	}
	if !identRE.MatchString(c.Database) {
		errs = append(errs, fmt.Sprintf("database %q is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)", c.Database))
	}
	if err := c.TLS.Validate("clickhouse"); err != nil {
		errs = append(errs, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if c.Cluster != "" && !identRE.MatchString(c.Cluster) {
		errs = append(errs, fmt.Sprintf("cluster %q is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)", c.Cluster))
	}
	if len(errs) > 0 {
		return fmt.Errorf("clickhouse config: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Open connects without selecting the Jevons database, so that the caller
// can create it; statements name the database explicitly.
func Open(ctx context.Context, cfg Config) (driver.Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	tlsCfg, err := cfg.TLS.Load("clickhouse")
	if err != nil {
		return nil, err
	}
	opts := &clickhouse.Options{
		Addr:        strings.Split(cfg.Addr, ","),
		Auth:        clickhouse.Auth{Database: "default", Username: cfg.Username, Password: cfg.Password.Reveal()},
		DialTimeout: cfg.DialTimeout,
		DialContext: dialer(cfg.DialTimeout, tlsCfg),
		ReadTimeout: 5 * time.Minute,
		// A connection keeps its send buffer between queries, and an
		// insert is written out whenever the buffer passes this size
		// after a column: the buffer kept on each pooled connection is
		// about the largest column plus this, not 10 MiB plus it (the
		// driver's default), and a large flush grows it less.
		MaxCompressionBuffer: sendBuffer,
	}
	if cfg.Cluster != "" {
		opts.Settings = ClusterSettings(false)
	}
	conn, err := open(ctx, opts)
	if err != nil || cfg.Cluster == "" {
		return conn, err
	}
	// Servers before 19.x take only numeric settings from a client; newer
	// ones also take the string settings, set in the user's profile on old
	// ones (deploy/local/cluster does).
	if v, err := conn.ServerVersion(); err == nil && v.Revision > stringSettingsRevision {
		_ = conn.Close()
		opts.Settings = ClusterSettings(true)
		return open(ctx, opts)
	}
	return conn, nil
}

// dialer connects as clickhouse-go does without one (TCP, then TLS when
// configured, checking the name dialled unless the config names another,
// all within one DialTimeout per address), with every write bounded by
// writeTimeout (see boundedWrites). clickhouse-go gives every address of a
// comma list the same context, ending one DialTimeout after the first
// try: each address gets its own timeout instead, as its own dial does,
// so that a host that hangs does not leave the next one no time.
func dialer(timeout time.Duration, tlsCfg *tls.Config) func(context.Context, string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		var d net.Dialer
		raw, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		conn := net.Conn(&boundedWrites{Conn: raw})
		if tlsCfg == nil {
			return conn, nil
		}
		cfg := tlsCfg
		if cfg.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				host = addr
			}
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return nil, err
		}
		return tc, nil
	}
}

// boundedWrites fails a write call that the server does not take within
// writeTimeout (or the caller's own deadline, if sooner). An insert sends
// its blocks with Batch.Flush, which, unlike Send, does not close the
// connection when the insert's context ends: without this bound, a server
// that stops reading (a host gone without a reset) would hold the write
// until TCP gave up, about 15 minutes.
type boundedWrites struct {
	net.Conn
	mu       sync.Mutex
	deadline time.Time // the caller's write deadline; zero: none
}

// SyscallConn is the socket's: clickhouse-go peeks at a pooled
// connection's socket before reusing it, to drop one the server closed.
func (c *boundedWrites) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("a %T has no socket to reach", c.Conn)
	}
	return sc.SyscallConn()
}

// writeTimeout bounds each write call to ClickHouse (a variable for tests).
var writeTimeout = 2 * time.Minute

func (c *boundedWrites) Write(b []byte) (int, error) {
	c.mu.Lock()
	d := time.Now().Add(writeTimeout)
	if !c.deadline.IsZero() && c.deadline.Before(d) {
		d = c.deadline
	}
	err := c.Conn.SetWriteDeadline(d)
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func (c *boundedWrites) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return c.Conn.SetDeadline(t)
}

func (c *boundedWrites) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return c.Conn.SetWriteDeadline(t)
}

// sendBuffer is the size past which a connection writes out the part of
// an insert encoded so far (checked after each column).
const sendBuffer = 1 << 20

// stringSettingsRevision is the last protocol revision that sends settings
// as numbers (DBMS_MIN_REVISION_WITH_SETTINGS_SERIALIZED_AS_STRINGS).
const stringSettingsRevision = 54429

func open(ctx context.Context, opts *clickhouse.Options) (driver.Conn, error) {
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open clickhouse %s: %w", strings.Join(opts.Addr, ","), err)
	}
	if err := conn.Ping(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("ping clickhouse %s: %w", strings.Join(opts.Addr, ","), err)
	}
	return conn, nil
}

// ClusterSettings are the session settings of every connection to a
// cluster, for read-your-writes through Distributed tables:
//   - insert_distributed_sync: an insert returns once every shard has its
//     rows (the default queues them on the receiving node and sends them
//     later, so a checkpoint could be read before its states exist);
//   - load_balancing in_order: reads and writes prefer the same live replica
//     of each shard, and fallback_to_stale_replicas_for_distributed_queries
//     off refuses a replica that lags more than
//     max_replica_delay_for_distributed_queries seconds;
//   - distributed_product_mode local: an IN subquery over a Distributed
//     table reads each shard's own rows, exact because every key of the
//     aggregator lives on one shard (sharded by src_partition).
//
// The two string settings go only to servers that take them from a client
// (withStrings); older servers need them in the user's profile.
func ClusterSettings(withStrings bool) clickhouse.Settings {
	s := clickhouse.Settings{
		"insert_distributed_sync":                            1,
		"fallback_to_stale_replicas_for_distributed_queries": 0,
		"max_replica_delay_for_distributed_queries":          10,
	}
	if withStrings {
		s["load_balancing"] = "in_order"
		s["distributed_product_mode"] = "local"
	}
	return s
}

// ServerVersion returns the server's version as numbers, e.g. [18 16 1].
func ServerVersion(ctx context.Context, conn driver.Conn) ([]int, error) {
	var v string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&v); err != nil {
		return nil, fmt.Errorf("query clickhouse version: %w", err)
	}
	return parseVersion(v)
}

func parseVersion(v string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(strings.TrimSpace(v), ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil, fmt.Errorf("parse version %q: %w", v, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// versionLess compares dotted versions numerically; missing parts are 0.
func versionLess(a, b []int) bool {
	for i := 0; i < max(len(a), len(b)); i++ {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return x < y
		}
	}
	return false
}

func formatVersion(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ".")
}
