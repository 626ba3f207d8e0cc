package gateway_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/ingest/gateway"
	"github.com/jevonsdev/jevons/internal/itest"
	"github.com/jevonsdev/jevons/secure"
)

// The gateway's producer creates its topic and produces over SCRAM and TLS
// to the real broker; with a wrong password it fails naming what to check.
func TestTheProducerWorksOverSCRAMAndTLS(t *testing.T) {
	s := itest.Secure(t)
	cfg := gateway.DefaultKafkaConfig()
	cfg.Brokers, cfg.Topic, cfg.Partitions = []string{s.KafkaSASLSSL}, fmt.Sprintf("jevons.gw_secure_%d", time.Now().UnixNano()), 2
	cfg.Security = secure.KafkaConfig{SASLMechanism: secure.ScramSHA256, SASLUser: s.KafkaUser,
		SASLPassword: secure.Secret(s.Password(t, s.KafkaPasswordFile)), TLS: secure.TLS{Enabled: true, CAFile: s.CAFile}}
	prod, err := gateway.NewKafkaProducer(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := prod.EnsureTopic(ctx); err != nil {
		t.Fatal(err)
	}
	sec, err := cfg.Security.Load()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		client, done := sec.Client(cfg.Brokers, 10*time.Second)
		defer done()
		_, _ = client.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{cfg.Topic}})
	}()
	if err := prod.Produce(ctx, []kafka.Message{{Key: []byte("k"), Value: []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	client, done := sec.Client(cfg.Brokers, 10*time.Second)
	defer done()
	offs, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{cfg.Topic: {kafka.LastOffsetOf(0), kafka.LastOffsetOf(1)}}})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, p := range offs.Topics[cfg.Topic] {
		n += p.LastOffset
	}
	if n != 1 {
		t.Fatalf("%d messages in the topic, want 1", n)
	}

	cfg.Security.SASLPassword = "wrong-password"
	bad, err := gateway.NewKafkaProducer(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	err = bad.Produce(ctx, []kafka.Message{{Key: []byte("k"), Value: []byte("v")}})
	if err == nil || !strings.Contains(err.Error(), "SASL") {
		t.Fatalf("a wrong password: %v, want a SASL authentication error", err)
	}
	t.Log(err)
}
