package secure

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLS says how to encrypt a connection and check the server. Its Validate
// and Load errors name the options by Prefix + "-tls-..." (the flag names of
// jevons, e.g. kafka-tls-ca), so that a bad setting is found where it was
// made.
type TLS struct {
	Enabled    bool
	CAFile     string // PEM CA bundle that signs the server's certificate; empty: the system roots
	CertFile   string // PEM client certificate, for servers that require one (mutual TLS)
	KeyFile    string // PEM private key of CertFile
	ServerName string // name checked against the server's certificate; empty: the host dialled
	// InsecureSkipVerify accepts any server certificate. Off by default; only
	// for tests against a server whose certificate cannot be checked.
	InsecureSkipVerify bool
}

// Validate reports every inconsistent setting at once; prefix is "kafka" or
// "clickhouse".
func (t TLS) Validate(prefix string) error {
	var errs []error
	if !t.Enabled {
		for _, o := range []struct {
			name string
			set  bool
		}{{"ca", t.CAFile != ""}, {"cert", t.CertFile != ""}, {"key", t.KeyFile != ""}, {"server-name", t.ServerName != ""}, {"insecure-skip-verify", t.InsecureSkipVerify}} {
			if o.set {
				errs = append(errs, fmt.Errorf("%s-tls-%s is set but %s-tls is not: enable TLS or drop the option", prefix, o.name, prefix))
			}
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, fmt.Errorf("%s-tls-cert and %s-tls-key go together: a client certificate needs its key", prefix, prefix))
	}
	if t.InsecureSkipVerify && t.CAFile != "" {
		errs = append(errs, fmt.Errorf("%s-tls-insecure-skip-verify and %s-tls-ca contradict each other: the CA would not be checked", prefix, prefix))
	}
	return errors.Join(errs...)
}

// Load validates the settings and reads the files into a tls.Config; nil
// when TLS is not enabled.
func (t TLS) Load(prefix string) (*tls.Config, error) {
	if err := t.Validate(prefix); err != nil {
		return nil, err
	}
	if !t.Enabled {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s-tls-ca: %w", prefix, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s-tls-ca: %s holds no PEM certificate", prefix, t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s-tls-cert, %s-tls-key: %w", prefix, prefix, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
