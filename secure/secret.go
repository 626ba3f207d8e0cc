package secure

import (
	"fmt"
	"os"
	"strings"
)

// Secret is a password. Formatting it with fmt (%v, %s, %q, %+v, %#v),
// encoding it as JSON, YAML or text, or logging it with zap shows
// "[redacted]" (or nothing when it is empty); Reveal returns the value.
type Secret string

const redacted = "[redacted]"

// Reveal returns the password itself, for the one place that sends it.
func (s Secret) Reveal() string { return string(s) }

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString hides the value from %#v.
func (s Secret) GoString() string { return fmt.Sprintf("secure.Secret(%q)", s.String()) }

// Format hides the value from every fmt verb.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", s.String())
		return
	}
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, s.GoString())
		return
	}
	fmt.Fprint(f, s.String())
}

// MarshalText hides the value from JSON, YAML and text encoders.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ReadSecretFile reads a password from a file, such as a Kubernetes Secret
// mounted as a volume. One trailing line break is not part of the password.
// The error names the file, never its content.
func ReadSecretFile(path string) (Secret, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read password file: %w", err)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if s == "" {
		return "", fmt.Errorf("password file %s is empty", path)
	}
	return Secret(s), nil
}
