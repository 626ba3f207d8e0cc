package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jevonsdev/jevons/internal/itest"
)

const testPassword = "pa55-w0rd-never-shown"

var helpFlag = regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`)

// connecting lists every command that connects to Kafka or ClickHouse, the
// arguments that make it reach its security check without connecting, and
// what it connects to.
var connecting = []struct {
	args              []string
	kafka, clickhouse bool
}{
	{[]string{"aggregate", "--brokers", "127.0.0.1:1", "--clickhouse", "127.0.0.1:1"}, true, true},
	{[]string{"alert", "--brokers", "127.0.0.1:1", "--clickhouse", "127.0.0.1:1", "--rules", "none.yaml"}, true, true},
	{[]string{"ingest", "--brokers", "127.0.0.1:1"}, true, false},
	{[]string{"loadgen", "--brokers", "127.0.0.1:1"}, true, false},
	{[]string{"import", "--brokers", "127.0.0.1:1", "--clickhouse", "127.0.0.1:1"}, true, true}, // no FILE: the security check comes first
	{[]string{"bench", "--brokers", "127.0.0.1:1", "--clickhouse", "127.0.0.1:1"}, true, true},
	{[]string{"bench", "ingest", "--brokers", "127.0.0.1:1"}, true, false},
	{[]string{"demo", "--brokers", "127.0.0.1:1", "--clickhouse", "127.0.0.1:1"}, true, true},
	{[]string{"migrate", "--clickhouse", "127.0.0.1:1"}, false, true},
	{[]string{"verify", "--clickhouse", "127.0.0.1:1", "--truth", "none.json"}, false, true},
	{[]string{"report", "--clickhouse", "127.0.0.1:1", "--from", "2026-01-01", "--to", "2026-01-31"}, false, true},
	{[]string{"bench", "report", "--clickhouse", "127.0.0.1:1"}, false, true},
	{[]string{"prices", "unknown", "--clickhouse", "127.0.0.1:1"}, false, true},
}

func name(args []string) string {
	if len(args) > 1 && !strings.HasPrefix(args[1], "-") {
		return args[0] + " " + args[1]
	}
	return args[0]
}

func commandWords(args []string) []string { return strings.Fields(name(args)) }

func runCapture(args ...string) (int, string) {
	var out bytes.Buffer
	code := run(context.Background(), args, &out, &out)
	return code, out.String()
}

// Every command that connects has the flags, and --help shows no password
// from the environment as a default.
func TestEveryCommandThatConnectsHasTheSecurityFlagsAndItsHelpNoPassword(t *testing.T) {
	t.Setenv("JEVONS_CLICKHOUSE_PASSWORD", testPassword)
	t.Setenv("JEVONS_KAFKA_SASL_PASSWORD", testPassword)
	for _, c := range connecting {
		t.Run(name(c.args), func(t *testing.T) {
			code, help := runCapture(append(commandWords(c.args), "--help")...)
			if code != 0 {
				t.Fatalf("--help: exit %d\n%s", code, help)
			}
			if strings.Contains(help, testPassword) {
				t.Fatalf("--help shows the password:\n%s", help)
			}
			flags := map[string]bool{}
			for _, m := range helpFlag.FindAllStringSubmatch(help, -1) {
				flags[m[1]] = true
			}
			var want []string
			if c.kafka {
				want = append(want, "kafka-sasl-mechanism", "kafka-sasl-user", "kafka-sasl-password", "kafka-sasl-password-file",
					"kafka-tls", "kafka-tls-ca", "kafka-tls-cert", "kafka-tls-key", "kafka-tls-server-name", "kafka-tls-insecure-skip-verify")
			}
			if c.clickhouse {
				want = append(want, "clickhouse-user", "clickhouse-password", "clickhouse-password-file",
					"clickhouse-tls", "clickhouse-tls-ca", "clickhouse-tls-cert", "clickhouse-tls-key", "clickhouse-tls-server-name", "clickhouse-tls-insecure-skip-verify")
			}
			for _, w := range want {
				if !flags[w] {
					t.Errorf("--help lacks --%s", w)
				}
			}
		})
	}
}

// A contradicting setting fails before any connection, naming the flags,
// whether it comes from the command line or the environment.
func TestBadSecuritySettingsFailNamingTheFlag(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range connecting {
		type bad struct {
			why  string
			args []string
			env  map[string]string
			want string
		}
		var cases []bad
		if c.kafka {
			cases = append(cases,
				bad{"a CA without TLS", []string{"--kafka-tls-ca", "ca.pem"}, nil, "--kafka-tls-ca is set but --kafka-tls is not"},
				bad{"a CA without TLS, from the environment", nil, map[string]string{"JEVONS_KAFKA_TLS_CA": "ca.pem"}, "--kafka-tls-ca is set but --kafka-tls is not"},
				bad{"a password without a mechanism", []string{"--kafka-sasl-password", testPassword}, nil, "--kafka-sasl-mechanism is not"},
				bad{"SCRAM without a user", []string{"--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-sasl-password-file", pwFile}, nil, "needs --kafka-sasl-user"},
				bad{"a password and a password file", []string{"--kafka-sasl-password-file", pwFile}, map[string]string{"JEVONS_KAFKA_SASL_PASSWORD": testPassword},
					"--kafka-sasl-password and --kafka-sasl-password-file are both set"},
			)
		}
		if c.clickhouse {
			cases = append(cases,
				bad{"skip-verify without TLS", []string{"--clickhouse-tls-insecure-skip-verify"}, nil, "--clickhouse-tls-insecure-skip-verify is set but --clickhouse-tls is not"},
				bad{"a password and a password file", []string{"--clickhouse-password", testPassword}, map[string]string{"JEVONS_CLICKHOUSE_PASSWORD_FILE": pwFile},
					"--clickhouse-password and --clickhouse-password-file are both set"},
				bad{"a missing password file", []string{"--clickhouse-password-file", filepath.Join(dir, "nope")}, nil, "--clickhouse-password-file: read password file"},
			)
		}
		for _, b := range cases {
			t.Run(name(c.args)+": "+b.why, func(t *testing.T) {
				for k, v := range b.env {
					t.Setenv(k, v)
				}
				code, out := runCapture(append(append([]string{}, c.args...), b.args...)...)
				if code == 0 || !strings.Contains(out, b.want) {
					t.Fatalf("exit %d, output %q: want a failure naming %q", code, out, b.want)
				}
				if strings.Contains(out, testPassword) {
					t.Fatalf("the error shows the password: %s", out)
				}
			})
		}
	}
}

// A config file sets the security flags like any other; its password
// shows nowhere.
func TestTheConfigFileSetsTheSecurityFlags(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "jevons.yaml")
	body := "brokers: 127.0.0.1:1\nkafka-sasl-mechanism: SCRAM-SHA-512\nkafka-sasl-password: " + testPassword + "\nclickhouse-tls-ca: ca.pem\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := runCapture("aggregate", "--config", cfg)
	for _, want := range []string{"--clickhouse-tls-ca is set but --clickhouse-tls is not"} {
		if code == 0 || !strings.Contains(out, want) {
			t.Fatalf("exit %d, %q: want %q", code, out, want)
		}
	}
	code, out = runCapture("aggregate", "--config", cfg, "--clickhouse-tls")
	if code == 0 || !strings.Contains(out, "SCRAM-SHA-512 needs --kafka-sasl-user") || strings.Contains(out, testPassword) {
		t.Fatalf("exit %d, %q: want the missing user named and no password", code, out)
	}
}

// syncBuffer is a log sink shared by a running command and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// loadgen, the aggregator and verify over SCRAM and TLS to the real broker
// and TLS with a password to the real ClickHouse, with the settings from
// flags, files and the environment: the rollups are exact and no log line
// holds a password.
func TestThePipelineOverSCRAMAndTLSIsExact(t *testing.T) {
	s := itest.Secure(t)
	kafkaPW, chPW := s.Password(t, s.KafkaPasswordFile), s.Password(t, s.ClickHousePasswordFile)
	id := fmt.Sprintf("secure_%d", time.Now().UnixNano())
	truth := filepath.Join(t.TempDir(), "truth.json")
	kafkaArgs := []string{"--brokers", s.KafkaSASLSSL, "--topic", "jevons." + id, "--kafka-sasl-mechanism", "SCRAM-SHA-512",
		"--kafka-sasl-user", s.KafkaUser, "--kafka-tls", "--kafka-tls-ca", s.CAFile}
	chArgs := []string{"--clickhouse", s.ClickHouse, "--database", id, "--clickhouse-user", s.ClickHouseUser,
		"--clickhouse-password-file", s.ClickHousePasswordFile, "--clickhouse-tls", "--clickhouse-tls-ca", s.CAFile}
	var logs syncBuffer
	code := run(context.Background(), append([]string{"loadgen", "--events", "3000", "--dup-ratio", "0.05", "--bad-ratio", "0.01",
		"--truth", truth, "--kafka-sasl-password-file", s.KafkaPasswordFile}, kafkaArgs...), io.Discard, &logs)
	if code != 0 {
		t.Fatalf("loadgen: exit %d\n%s", code, logs.String())
	}

	t.Setenv("JEVONS_KAFKA_SASL_PASSWORD", kafkaPW) // the aggregator's Kafka password from the environment
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append(append([]string{"aggregate", "--group", id, "--idle-flush", "1s", "--flush-interval", "1s", "--log-level", "debug"}, kafkaArgs...), chArgs...), io.Discard, &logs)
	}()
	deadline := time.Now().Add(3 * time.Minute)
	var out string
	for {
		code, out = runCapture(append([]string{"verify", "--truth", truth}, chArgs...)...)
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("verify: exit %d\n%s\naggregator:\n%s", code, out, logs.String())
		}
		select {
		case code := <-done:
			t.Fatalf("the aggregator exited %d\n%s", code, logs.String())
		case <-time.After(2 * time.Second):
		}
	}
	stop()
	if code := <-done; code != 0 {
		t.Fatalf("aggregator: exit %d\n%s", code, logs.String())
	}
	for _, pw := range []string{kafkaPW, chPW} {
		if strings.Contains(logs.String(), pw) || strings.Contains(out, pw) {
			t.Fatal("a password is in the logs")
		}
	}
	t.Logf("verify: %s", strings.TrimSpace(out))
}

// A wrong password fails with the server's reason, naming what to check.
func TestAWrongPasswordFailsClearly(t *testing.T) {
	s := itest.Secure(t)
	code, out := runCapture("migrate", "--clickhouse", s.ClickHouse, "--clickhouse-user", s.ClickHouseUser, "--clickhouse-password", "wrong-password",
		"--clickhouse-tls", "--clickhouse-tls-ca", s.CAFile)
	if code == 0 || !strings.Contains(out, "Wrong password for user "+s.ClickHouseUser) {
		t.Fatalf("migrate: exit %d, %q", code, out)
	}
	code, out = runCapture("loadgen", "--scenario", "jevons", "--months", "1", "--tasks-per-day", "1", "--brokers", s.KafkaSASLSSL,
		"--topic", fmt.Sprintf("jevons.secure_%d", time.Now().UnixNano()), "--kafka-sasl-mechanism", "SCRAM-SHA-256",
		"--kafka-sasl-user", s.KafkaUser, "--kafka-sasl-password", "wrong-password", "--kafka-tls", "--kafka-tls-ca", s.CAFile)
	if code == 0 || !strings.Contains(out, "check kafka-sasl-user, kafka-sasl-password and kafka-sasl-mechanism") || !strings.Contains(out, "SASL Authentication failed") {
		t.Fatalf("loadgen: exit %d, %q", code, out)
	}
}
