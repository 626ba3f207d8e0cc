package alert_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/jevonsdev/jevons/alert"
	"github.com/jevonsdev/jevons/internal/itest"
	"github.com/jevonsdev/jevons/secure"
)

// Leader election runs over SCRAM and TLS: the only replica leads.
func TestLeaderElectionOverSCRAMAndTLS(t *testing.T) {
	s := itest.Secure(t)
	id := time.Now().UnixNano()
	cfg := alert.LeaderConfig{
		Brokers: []string{s.KafkaSASLSSL}, Topic: fmt.Sprintf("jevons.leader_secure_%d", id), Group: fmt.Sprintf("leader-secure-%d", id),
		SessionTimeout: 6 * time.Second,
		Security: secure.KafkaConfig{SASLMechanism: secure.ScramSHA512, SASLUser: s.KafkaUser,
			SASLPassword: secure.Secret(s.Password(t, s.KafkaPasswordFile)), TLS: secure.TLS{Enabled: true, CAFile: s.CAFile}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	leading := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- alert.Lead(ctx, cfg, zap.NewNop(), func(lctx context.Context) error {
			close(leading)
			<-lctx.Done()
			return nil
		})
	}()
	select {
	case <-leading:
	case err := <-done:
		t.Fatalf("Lead returned before leading: %v", err)
	case <-ctx.Done():
		t.Fatal("no leadership in 2 minutes")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
