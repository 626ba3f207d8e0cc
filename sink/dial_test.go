package sink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jevonsdev/jevons/internal/itest"
)

// A server that stops reading must fail a write within writeTimeout, also
// after the driver cleared its own deadline (as it does after a query),
// and a sooner deadline of the caller's still applies.
func TestAWriteTheServerDoesNotTakeFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accepts and never reads
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	defer func(d time.Duration) { writeTimeout = d }(writeTimeout)
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		set     func(net.Conn) error
	}{
		{"no deadline of the caller's", 300 * time.Millisecond, func(net.Conn) error { return nil }},
		{"the caller's deadline cleared", 300 * time.Millisecond, func(c net.Conn) error { return c.SetDeadline(time.Time{}) }},
		{"the caller's sooner deadline", time.Hour, func(c net.Conn) error { return c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeTimeout = tc.timeout
			conn, err := dialer(time.Second, nil)(context.Background(), ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := tc.set(conn); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				buf := make([]byte, 1<<20)
				for {
					if _, err := conn.Write(buf); err != nil {
						done <- err
						return
					}
				}
			}()
			select {
			case err := <-done:
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("write failed with %v, want a deadline exceeded", err)
				}
			case <-time.After(time.Minute):
				t.Fatal("a write to a server that reads nothing still blocks after a minute")
			}
		})
	}
}

// clickhouse-go peeks at a pooled connection's socket before reusing it
// (to drop one the server closed): the socket must be reachable through
// the dialled connection, plain and under TLS.
func TestTheDialledSocketStaysReachable(t *testing.T) {
	srv := httptest.NewTLSServer(nil)
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	for _, tlsCfg := range []*tls.Config{nil, {RootCAs: roots, ServerName: "example.com"}} {
		conn, err := dialer(5*time.Second, tlsCfg)(context.Background(), srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		under := conn
		if tc, ok := conn.(*tls.Conn); ok {
			under = tc.NetConn()
		} else if tlsCfg != nil {
			t.Fatalf("a %T over TLS", conn)
		}
		sc, ok := under.(syscall.Conn)
		if !ok {
			t.Fatalf("a %T is no syscall.Conn", under)
		}
		if _, err := sc.SyscallConn(); err != nil {
			t.Fatal(err)
		}
		conn.Close()
	}
}

// A first address that accepts and never answers must leave the next
// address a whole dial timeout: clickhouse-go gives every address the same
// context, which the first one used up.
func TestAHungFirstAddressFailsOverToTheNext(t *testing.T) {
	addr := itest.ClickHouse(t)
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	go func() {
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	cfg := DefaultConfig()
	cfg.Addr, cfg.DialTimeout = hung.Addr().String()+","+addr, time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open %s: %v", cfg.Addr, err)
	}
	conn.Close()
}
