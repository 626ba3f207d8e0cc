package secure_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.yaml.in/yaml/v3"

	"github.com/jevonsdev/jevons/secure"
)

const pw = "s3cr3t-Pa55"

// Every way a config reaches a log line or a dump shows no password.
func TestASecretNeverPrintsItsValue(t *testing.T) {
	cfg := secure.KafkaConfig{SASLMechanism: secure.ScramSHA512, SASLUser: "jevons", SASLPassword: pw}
	var logBuf bytes.Buffer
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&logBuf), zap.DebugLevel))
	log.Info("config", zap.Any("kafka", cfg), zap.Any("password", cfg.SASLPassword), zap.Stringer("s", cfg.SASLPassword), zap.Reflect("r", cfg))
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ym, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg), "%#v": fmt.Sprintf("%#v", cfg),
		"%s": fmt.Sprintf("%s", cfg.SASLPassword), "%q": fmt.Sprintf("%q", cfg.SASLPassword), "%x": fmt.Sprintf("%x", cfg.SASLPassword),
		"%d": fmt.Sprintf("%d", cfg.SASLPassword), "Sprint": fmt.Sprint(cfg.SASLPassword),
		"json": string(js), "yaml": string(ym), "zap": logBuf.String(),
	}
	for how, out := range outputs {
		if strings.Contains(out, pw) || strings.Contains(out, fmt.Sprintf("%x", pw)) {
			t.Errorf("%s shows the password: %s", how, out)
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("%s does not say the password is hidden: %s", how, out)
		}
	}
	if cfg.SASLPassword.Reveal() != pw {
		t.Fatal("Reveal does not return the password")
	}
}

func TestReadSecretFileDropsOneLineBreakAndNamesTheFileOnError(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"lf": pw + "\n", "crlf": pw + "\r\n", "none": pw} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if s, err := secure.ReadSecretFile(p); err != nil || s.Reveal() != pw {
			t.Errorf("%s: %q, %v", name, s.Reveal(), err)
		}
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := secure.ReadSecretFile(empty); err == nil || !strings.Contains(err.Error(), empty) {
		t.Errorf("an empty file: %v", err)
	}
	if _, err := secure.ReadSecretFile(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a missing file: %v", err)
	}
}

func TestBadCombinationsNameTheOption(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  secure.KafkaConfig
		want []string
	}{
		{"a user without a mechanism", secure.KafkaConfig{SASLUser: "u"}, []string{"kafka-sasl-mechanism is not"}},
		{"an unknown mechanism", secure.KafkaConfig{SASLMechanism: "PLAIN", SASLUser: "u", SASLPassword: "p"}, []string{`kafka-sasl-mechanism "PLAIN"`}},
		{"SCRAM without user or password", secure.KafkaConfig{SASLMechanism: secure.ScramSHA256}, []string{"needs kafka-sasl-user", "needs kafka-sasl-password"}},
		{"a CA without TLS", secure.KafkaConfig{TLS: secure.TLS{CAFile: "ca.pem"}}, []string{"kafka-tls-ca is set but kafka-tls is not"}},
		{"a certificate without its key", secure.KafkaConfig{TLS: secure.TLS{Enabled: true, CertFile: "c.pem"}}, []string{"kafka-tls-cert and kafka-tls-key go together"}},
		{"skip-verify with a CA", secure.KafkaConfig{TLS: secure.TLS{Enabled: true, CAFile: "ca.pem", InsecureSkipVerify: true}}, []string{"kafka-tls-insecure-skip-verify and kafka-tls-ca"}},
		{"a CA file that is not PEM", secure.KafkaConfig{TLS: secure.TLS{Enabled: true, CAFile: junk}}, []string{"kafka-tls-ca: " + junk + " holds no PEM certificate"}},
		{"a missing CA file", secure.KafkaConfig{TLS: secure.TLS{Enabled: true, CAFile: filepath.Join(dir, "nope.pem")}}, []string{"kafka-tls-ca: open"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.cfg.Load()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "pass-p") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
	k, err := secure.KafkaConfig{}.Load()
	if err != nil || !k.Plain() {
		t.Fatalf("the zero config: %v, plain %v", err, k.Plain())
	}
	if tr := k.Transport(0); tr.TLS != nil || tr.SASL != nil {
		t.Fatal("the zero config dials TLS or SASL")
	}
}
