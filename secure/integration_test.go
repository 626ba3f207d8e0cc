package secure_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/jevonsdev/jevons/internal/itest"
	"github.com/jevonsdev/jevons/internal/topics"
	"github.com/jevonsdev/jevons/secure"
	"github.com/jevonsdev/jevons/sink"
)

// roundTrip creates a topic, writes one message and reads it back through
// sec: admin client, writer transport and reader dialer all authenticate.
func roundTrip(ctx context.Context, t *testing.T, sec *secure.Kafka, broker string) error {
	t.Helper()
	topic := fmt.Sprintf("jevons.secure_%d", time.Now().UnixNano())
	if err := topics.Ensure(ctx, sec, []string{broker}, topic, 1, 1); err != nil {
		return err
	}
	defer func() {
		client, done := sec.Client([]string{broker}, 10*time.Second)
		defer done()
		_, _ = client.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	}()
	w := &kafka.Writer{Addr: kafka.TCP(broker), Topic: topic, RequiredAcks: kafka.RequireAll, Transport: sec.Transport(10 * time.Second)}
	if err := w.WriteMessages(ctx, kafka.Message{Value: []byte("over the secured listener")}); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	_ = w.Close()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: topic, Partition: 0, Dialer: sec.Dialer(10 * time.Second), MaxWait: 100 * time.Millisecond})
	defer r.Close()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if string(m.Value) != "over the secured listener" {
		t.Fatalf("read back %q", m.Value)
	}
	return nil
}

func TestKafkaOverSCRAMAndTLSOnTheRealBroker(t *testing.T) {
	s := itest.Secure(t)
	pass := secure.Secret(s.Password(t, s.KafkaPasswordFile))
	tlsCA := secure.TLS{Enabled: true, CAFile: s.CAFile}
	for _, tc := range []struct {
		name, broker string
		cfg          secure.KafkaConfig
		wantErr      string // empty: the round trip succeeds
	}{
		{"SCRAM-SHA-512 over TLS", s.KafkaSASLSSL, secure.KafkaConfig{SASLMechanism: secure.ScramSHA512, SASLUser: s.KafkaUser, SASLPassword: pass, TLS: tlsCA}, ""},
		{"SCRAM-SHA-256 over TLS", s.KafkaSASLSSL, secure.KafkaConfig{SASLMechanism: secure.ScramSHA256, SASLUser: s.KafkaUser, SASLPassword: pass, TLS: tlsCA}, ""},
		{"TLS without SASL", s.KafkaSSL, secure.KafkaConfig{TLS: tlsCA}, ""},
		{"TLS checked against the server name", s.KafkaSSL, secure.KafkaConfig{TLS: secure.TLS{Enabled: true, CAFile: s.CAFile, ServerName: "localhost"}}, ""},
		{"a wrong SCRAM password", s.KafkaSASLSSL, secure.KafkaConfig{SASLMechanism: secure.ScramSHA512, SASLUser: s.KafkaUser, SASLPassword: "wrong-password", TLS: tlsCA}, "check kafka-sasl-user, kafka-sasl-password and kafka-sasl-mechanism"},
		{"an unknown SCRAM user", s.KafkaSASLSSL, secure.KafkaConfig{SASLMechanism: secure.ScramSHA512, SASLUser: "nobody", SASLPassword: pass, TLS: tlsCA}, "check kafka-sasl-user, kafka-sasl-password and kafka-sasl-mechanism"},
		{"TLS without the CA", s.KafkaSSL, secure.KafkaConfig{TLS: secure.TLS{Enabled: true}}, "certificate signed by unknown authority"},
		{"a server name the certificate does not hold", s.KafkaSSL, secure.KafkaConfig{TLS: secure.TLS{Enabled: true, CAFile: s.CAFile, ServerName: "kafka.example.com"}}, "kafka.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sec, err := tc.cfg.Load()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			err = roundTrip(ctx, t, sec, tc.broker)
			if err != nil {
				t.Log(err)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			case err != nil && strings.Contains(err.Error(), pass.Reveal()):
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

func TestClickHouseOverTLSWithAPasswordOnTheRealServer(t *testing.T) {
	s := itest.Secure(t)
	pass := secure.Secret(s.Password(t, s.ClickHousePasswordFile))
	for _, tc := range []struct {
		name    string
		cfg     sink.Config
		wantErr string
	}{
		{"TLS and the password", sink.Config{Addr: s.ClickHouse, Database: "jevons", Username: s.ClickHouseUser, Password: pass, TLS: secure.TLS{Enabled: true, CAFile: s.CAFile}}, ""},
		{"a wrong password", sink.Config{Addr: s.ClickHouse, Database: "jevons", Username: s.ClickHouseUser, Password: "wrong-password", TLS: secure.TLS{Enabled: true, CAFile: s.CAFile}}, "password"},
		{"no password", sink.Config{Addr: s.ClickHouse, Database: "jevons", Username: s.ClickHouseUser, TLS: secure.TLS{Enabled: true, CAFile: s.CAFile}}, "password"},
		{"TLS without the CA", sink.Config{Addr: s.ClickHouse, Database: "jevons", Username: s.ClickHouseUser, Password: pass, TLS: secure.TLS{Enabled: true}}, "certificate signed by unknown authority"},
		{"TLS checked against the server name", sink.Config{Addr: s.ClickHouse, Database: "jevons", Username: s.ClickHouseUser, Password: pass, TLS: secure.TLS{Enabled: true, CAFile: s.CAFile, ServerName: "localhost"}}, ""},
		{"a server name the certificate does not hold", sink.Config{Addr: s.ClickHouse, Database: "jevons", Username: s.ClickHouseUser, Password: pass, TLS: secure.TLS{Enabled: true, CAFile: s.CAFile, ServerName: "clickhouse.example.com"}}, "clickhouse.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			conn, err := sink.Open(ctx, tc.cfg)
			if err == nil {
				var one uint8
				err = conn.QueryRow(ctx, "SELECT 1").Scan(&one)
				conn.Close()
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(strings.ToLower(err.Error()), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			case err != nil && strings.Contains(err.Error(), pass.Reveal()):
				t.Fatalf("the error shows the password: %v", err)
			}
			if err != nil {
				t.Log(err)
			}
		})
	}
}
