package sink

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/jevonsdev/jevons/secure"
)

// Config says how to reach ClickHouse over the native protocol.
type Config struct {
	Addr        string        // host:port of the native protocol, e.g. 127.0.0.1:9000
	Database    string        // the Jevons database, default "jevons"
	Username    string        // default "default"
	Password    secure.Secret // default empty
	TLS         secure.TLS    // the native protocol over TLS (the server's tcp_port_secure)
	DialTimeout time.Duration // default 5s
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
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{cfg.Addr},
		Auth:        clickhouse.Auth{Database: "default", Username: cfg.Username, Password: cfg.Password.Reveal()},
		TLS:         tlsCfg,
		DialTimeout: cfg.DialTimeout,
		ReadTimeout: 5 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("open clickhouse %s: %w", cfg.Addr, err)
	}
	if err := conn.Ping(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("ping clickhouse %s: %w", cfg.Addr, err)
	}
	return conn, nil
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
