package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Notification states.
const (
	Firing   = "firing"
	Resolved = "resolved"
)

// Notification is one message about one alert instance. Its JSON form is
// the webhook payload (documented in the README); field names are stable.
type Notification struct {
	Key         string            `json:"idempotency_key"` // the same for every resend of this instance's episode
	Rule        string            `json:"rule"`
	Kind        string            `json:"kind"`
	State       string            `json:"state"`  // firing or resolved
	Repeat      int               `json:"repeat"` // 0: the first firing notification; n: the nth reminder
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Figures     map[string]any    `json:"figures"`
	Verdict     string            `json:"verdict,omitempty"`
	StartedAt   time.Time         `json:"started_at"`
	ResolvedAt  *time.Time        `json:"resolved_at"`
	SentAt      time.Time         `json:"sent_at"`
}

// Notifier is one channel.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// Func adapts a function to Notifier.
type Func func(ctx context.Context, n Notification) error

// Notify calls f.
func (f Func) Notify(ctx context.Context, n Notification) error { return f(ctx, n) }

// permanent marks a failure that a retry cannot fix (a 4xx answer, a
// payload the receiver rejects).
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent wraps err so that IsPermanent reports true.
func Permanent(err error) error { return permanent{err} }

// IsPermanent reports whether err must not be retried.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// statusError turns an HTTP answer into an error: nil for 2xx, permanent
// for 4xx except 408 and 429, transient otherwise.
func statusError(resp *http.Response, body []byte) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	if len(body) > 200 {
		body = body[:200]
	}
	err := fmt.Errorf("http %d: %s", resp.StatusCode, body)
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		return Permanent(err)
	}
	return err
}
