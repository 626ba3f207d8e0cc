package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/jevonsdev/jevons/secure"
	"github.com/jevonsdev/jevons/sink"
)

// kafkaSecurity holds a command's Kafka SASL and TLS flags.
type kafkaSecurity struct {
	fs                     *flag.FlagSet
	cfg                    secure.KafkaConfig
	password, passwordFile string
}

// kafkaSecurityFlags registers the Kafka SASL and TLS flags of a command
// that connects to Kafka.
func kafkaSecurityFlags(fs *flag.FlagSet) *kafkaSecurity {
	k := &kafkaSecurity{fs: fs}
	fs.StringVar(&k.cfg.SASLMechanism, "kafka-sasl-mechanism", "", "SASL mechanism towards Kafka: SCRAM-SHA-256 or SCRAM-SHA-512 (default: none)")
	fs.StringVar(&k.cfg.SASLUser, "kafka-sasl-user", "", "Kafka SASL user")
	fs.StringVar(&k.password, "kafka-sasl-password", "", "Kafka SASL password; prefer JEVONS_KAFKA_SASL_PASSWORD or --kafka-sasl-password-file: other users of the machine can read a command line")
	fs.StringVar(&k.passwordFile, "kafka-sasl-password-file", "", "file holding the Kafka SASL password, such as a mounted Secret")
	tlsFlags(fs, "kafka", "Kafka", &k.cfg.TLS)
	return k
}

// config returns the settings: each flag not on the command line from
// JEVONS_<FLAG> (commands with --config have read the environment and the
// file already; the environment wins either way), the password from its
// file, checked for contradictions.
func (k *kafkaSecurity) config() (secure.KafkaConfig, error) {
	if err := fillFromEnv(k.fs, "kafka-"); err != nil {
		return secure.KafkaConfig{}, err
	}
	pw, err := secretOf("kafka-sasl-password", k.password, k.passwordFile)
	if err != nil {
		return secure.KafkaConfig{}, err
	}
	cfg := k.cfg
	cfg.SASLPassword = pw
	if err := cfg.Validate(); err != nil {
		return secure.KafkaConfig{}, flagError(err)
	}
	return cfg, nil
}

// load is config, read into dialers.
func (k *kafkaSecurity) load() (*secure.Kafka, error) {
	cfg, err := k.config()
	if err != nil {
		return nil, err
	}
	sec, err := cfg.Load()
	if err != nil {
		return nil, flagError(err)
	}
	return sec, nil
}

// clickhouseSecurity holds a command's ClickHouse password and TLS flags.
type clickhouseSecurity struct {
	fs                     *flag.FlagSet
	cfg                    *sink.Config
	password, passwordFile string
}

// clickhouseSecurityFlags registers --clickhouse-password, its -file form
// and the TLS flags; apply puts them into cfg.
func clickhouseSecurityFlags(fs *flag.FlagSet, cfg *sink.Config) *clickhouseSecurity {
	c := &clickhouseSecurity{fs: fs, cfg: cfg}
	fs.StringVar(&c.password, "clickhouse-password", "", "ClickHouse password; prefer JEVONS_CLICKHOUSE_PASSWORD or --clickhouse-password-file: other users of the machine can read a command line")
	fs.StringVar(&c.passwordFile, "clickhouse-password-file", "", "file holding the ClickHouse password, such as a mounted Secret")
	tlsFlags(fs, "clickhouse", "ClickHouse", &cfg.TLS)
	return c
}

// apply reads the flags not on the command line from JEVONS_<FLAG> and the
// password from its file into the sink config, checked for contradictions.
func (c *clickhouseSecurity) apply() error {
	if err := fillFromEnv(c.fs, "clickhouse-"); err != nil {
		return err
	}
	pw, err := secretOf("clickhouse-password", c.password, c.passwordFile)
	if err != nil {
		return err
	}
	c.cfg.Password = pw
	if err := c.cfg.TLS.Validate("clickhouse"); err != nil {
		return flagError(err)
	}
	return nil
}

func tlsFlags(fs *flag.FlagSet, prefix, name string, t *secure.TLS) {
	fs.BoolVar(&t.Enabled, prefix+"-tls", false, "connect to "+name+" over TLS")
	fs.StringVar(&t.CAFile, prefix+"-tls-ca", "", "PEM file of the CA that signs "+name+"'s certificate (default: the system's roots)")
	fs.StringVar(&t.CertFile, prefix+"-tls-cert", "", "PEM client certificate, for a "+name+" that requires one")
	fs.StringVar(&t.KeyFile, prefix+"-tls-key", "", "PEM private key of --"+prefix+"-tls-cert")
	fs.StringVar(&t.ServerName, prefix+"-tls-server-name", "", "name to check "+name+"'s certificate against (default: the host dialled)")
	fs.BoolVar(&t.InsecureSkipVerify, prefix+"-tls-insecure-skip-verify", false, "accept any certificate from "+name+" (tests only; off by default)")
}

// fillFromEnv sets each flag with the prefix that the command line did not
// set from its JEVONS_<FLAG> variable. Errors name the variable, never its
// value.
func fillFromEnv(fs *flag.FlagSet, prefix string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || !strings.HasPrefix(f.Name, prefix) {
			return
		}
		env := envName(f.Name)
		if v, ok := os.LookupEnv(env); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s (--%s): not a valid value", env, f.Name))
			}
		}
	})
	return errors.Join(errs...)
}

// envName is the variable of a flag: JEVONS_ + its name in upper case, '_' for '-'.
func envName(flagName string) string {
	return "JEVONS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// secretOf is the password given directly or read from its file, not both.
func secretOf(name, value, file string) (secure.Secret, error) {
	switch {
	case value != "" && file != "":
		return "", fmt.Errorf("--%s and --%s-file are both set (flags, %s, %s_FILE or the config file): give one", name, name, envName(name), envName(name))
	case file != "":
		s, err := secure.ReadSecretFile(file)
		if err != nil {
			return "", fmt.Errorf("--%s-file: %w", name, err)
		}
		return s, nil
	}
	return secure.Secret(value), nil
}

// flagError puts "--" before the option names of secure's errors, which are
// the flag names.
func flagError(err error) error {
	msgs := strings.Split(err.Error(), "\n")
	for i, m := range msgs {
		msgs[i] = optionName.ReplaceAllString(m, "$1--$2")
	}
	return errors.New(strings.Join(msgs, "; "))
}

var optionName = regexp.MustCompile(`(^|[ ,;(])((?:kafka|clickhouse)-[a-z-]+)`)

// childEnv returns the variables that give a child jevons process the same
// security settings (passwords by value, so that a password from a flag
// does not show on the child's command line).
func childEnv(k *secure.KafkaConfig, ch *sink.Config) []string {
	var env []string
	add := func(flagName, v string) {
		if v != "" {
			env = append(env, envName(flagName)+"="+v)
		}
	}
	tls := func(prefix string, t secure.TLS) {
		if t.Enabled {
			add(prefix+"-tls", "true")
		}
		add(prefix+"-tls-ca", t.CAFile)
		add(prefix+"-tls-cert", t.CertFile)
		add(prefix+"-tls-key", t.KeyFile)
		add(prefix+"-tls-server-name", t.ServerName)
		if t.InsecureSkipVerify {
			add(prefix+"-tls-insecure-skip-verify", "true")
		}
	}
	if k != nil {
		add("kafka-sasl-mechanism", k.SASLMechanism)
		add("kafka-sasl-user", k.SASLUser)
		add("kafka-sasl-password", k.SASLPassword.Reveal())
		env = append(env, envName("kafka-sasl-password-file")+"=") // the value above, not an inherited file
		tls("kafka", k.TLS)
	}
	if ch != nil {
		add("clickhouse-user", ch.Username)
		add("clickhouse-password", ch.Password.Reveal())
		env = append(env, envName("clickhouse-password-file")+"=")
		tls("clickhouse", ch.TLS)
	}
	return env
}

// securityArgs are the flags that give an in-process command the resolved
// settings: every security flag, set even when empty, so that the
// environment cannot add a contradicting one.
func securityArgs(k *secure.KafkaConfig, ch *sink.Config) []string {
	args := []string{}
	tls := func(prefix string, t secure.TLS) {
		args = append(args, fmt.Sprintf("--%s-tls=%t", prefix, t.Enabled), "--"+prefix+"-tls-ca", t.CAFile,
			"--"+prefix+"-tls-cert", t.CertFile, "--"+prefix+"-tls-key", t.KeyFile, "--"+prefix+"-tls-server-name", t.ServerName,
			fmt.Sprintf("--%s-tls-insecure-skip-verify=%t", prefix, t.InsecureSkipVerify))
	}
	if k != nil {
		args = append(args, "--kafka-sasl-mechanism", k.SASLMechanism, "--kafka-sasl-user", k.SASLUser,
			"--kafka-sasl-password", k.SASLPassword.Reveal(), "--kafka-sasl-password-file", "")
		tls("kafka", k.TLS)
	}
	if ch != nil {
		args = append(args, "--clickhouse-password", ch.Password.Reveal(), "--clickhouse-password-file", "")
		tls("clickhouse", ch.TLS)
	}
	return args
}
