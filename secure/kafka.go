package secure

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// SASL mechanisms Jevons speaks to Kafka.
const (
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// KafkaConfig says how to authenticate to the brokers and encrypt the
// connections. The zero value is plaintext without authentication.
type KafkaConfig struct {
	SASLMechanism string // "" (none), SCRAM-SHA-256 or SCRAM-SHA-512
	SASLUser      string
	SASLPassword  Secret
	TLS           TLS
}

// Validate reports every inconsistent setting at once, naming the options
// as jevons's flags do (kafka-sasl-user, kafka-tls-ca, ...).
func (c KafkaConfig) Validate() error {
	var errs []error
	switch c.SASLMechanism {
	case "":
		if c.SASLUser != "" || c.SASLPassword != "" {
			errs = append(errs, errors.New("kafka-sasl-user or kafka-sasl-password is set but kafka-sasl-mechanism is not: set it to SCRAM-SHA-256 or SCRAM-SHA-512"))
		}
	case ScramSHA256, ScramSHA512:
		if c.SASLUser == "" {
			errs = append(errs, fmt.Errorf("kafka-sasl-mechanism %s needs kafka-sasl-user", c.SASLMechanism))
		}
		if c.SASLPassword == "" {
			errs = append(errs, fmt.Errorf("kafka-sasl-mechanism %s needs kafka-sasl-password or kafka-sasl-password-file", c.SASLMechanism))
		}
	default:
		errs = append(errs, fmt.Errorf("kafka-sasl-mechanism %q: want SCRAM-SHA-256 or SCRAM-SHA-512", c.SASLMechanism))
	}
	if err := c.TLS.Validate("kafka"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Load validates the settings and reads the certificate files once; the
// Kafka it returns builds every Dialer and Transport of a component.
func (c KafkaConfig) Load() (*Kafka, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	tlsCfg, err := c.TLS.Load("kafka")
	if err != nil {
		return nil, err
	}
	k := &Kafka{tls: tlsCfg}
	if c.SASLMechanism != "" {
		algo := scram.SHA256
		if c.SASLMechanism == ScramSHA512 {
			algo = scram.SHA512
		}
		if k.sasl, err = scram.Mechanism(algo, c.SASLUser, c.SASLPassword.Reveal()); err != nil {
			return nil, fmt.Errorf("kafka-sasl-user: %w", err) // SASLprep rejects the user or password
		}
	}
	return k, nil
}

// Kafka dials brokers as a KafkaConfig says. A nil *Kafka dials plaintext
// without authentication, kafka-go's defaults.
type Kafka struct {
	tls  *tls.Config
	sasl sasl.Mechanism
}

// Plain reports whether connections are plaintext and unauthenticated.
func (k *Kafka) Plain() bool { return k == nil || (k.tls == nil && k.sasl == nil) }

// Transport returns a new transport (for kafka.Writer and kafka.Client)
// with its own connection pool and metadata cache.
func (k *Kafka) Transport(dialTimeout time.Duration) *kafka.Transport {
	tr := &kafka.Transport{DialTimeout: dialTimeout}
	if k != nil {
		tr.TLS, tr.SASL = k.tlsConfig(), k.sasl
	}
	return tr
}

// Dialer returns a dialer (for kafka.Reader, consumer groups and
// kafka.DialLeader's equivalents).
func (k *Kafka) Dialer(timeout time.Duration) *kafka.Dialer {
	d := &kafka.Dialer{Timeout: timeout, DualStack: true}
	if k != nil {
		d.TLS, d.SASLMechanism = k.tlsConfig(), k.sasl
	}
	return d
}

// Client returns an admin client of the brokers with a transport of its own
// (kafka-go's shared transport answers metadata from a cache that can lag
// behind a topic just created); done closes its connections.
func (k *Kafka) Client(brokers []string, timeout time.Duration) (client *kafka.Client, done func()) {
	tr := k.Transport(timeout)
	return &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: timeout, Transport: tr}, tr.CloseIdleConnections
}

// Explain adds to err, the failure of a request through a Transport or
// Client, why the brokers cannot be reached when dialling one shows it:
// kafka-go's client reports a failed TLS handshake or SASL authentication
// only as "Broker Not Available". err is returned as it is when a broker
// answers.
func (k *Kafka) Explain(ctx context.Context, brokers []string, err error) error {
	if err == nil || len(brokers) == 0 {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var why []error
	for _, b := range brokers {
		conn, derr := k.Dialer(10*time.Second).DialContext(ctx, "tcp", b)
		if derr == nil {
			_ = conn.Close()
			return err
		}
		why = append(why, fmt.Errorf("%s: %w", b, k.hint(derr)))
	}
	return fmt.Errorf("%w; dialling the brokers: %w", err, errors.Join(why...))
}

// hint names the settings behind a failed handshake or authentication.
func (k *Kafka) hint(err error) error {
	var saslErr kafka.Error
	switch {
	case errors.As(err, &saslErr) && saslErr == kafka.SASLAuthenticationFailed:
		return fmt.Errorf("check kafka-sasl-user, kafka-sasl-password and kafka-sasl-mechanism: %w", err)
	case errors.As(err, new(*tls.CertificateVerificationError)), errors.As(err, new(x509.UnknownAuthorityError)), errors.As(err, new(x509.HostnameError)):
		return fmt.Errorf("check kafka-tls-ca and kafka-tls-server-name: %w", err)
	}
	return err
}

func (k *Kafka) tlsConfig() *tls.Config {
	if k.tls == nil {
		return nil
	}
	return k.tls.Clone()
}
