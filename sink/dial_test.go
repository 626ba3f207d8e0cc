package sink

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"
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
