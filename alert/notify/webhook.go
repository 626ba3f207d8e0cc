package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Webhook headers.
const (
	SignatureHeader = "X-Jevons-Signature" // "sha256=" + hex HMAC-SHA256 of the body with the secret
	KeyHeader       = "X-Jevons-Idempotency-Key"
	TimestampHeader = "X-Jevons-Timestamp"
)

// Webhook POSTs the Notification as JSON, signed with HMAC-SHA256.
type Webhook struct {
	URL     string
	Secret  []byte
	Headers map[string]string
	Client  *http.Client
}

// Sign returns the signature header value of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig is body's signature under secret, in
// constant time. Receivers use it.
func Verify(secret, body []byte, sig string) bool {
	return hmac.Equal([]byte(sig), []byte(Sign(secret, body)))
}

// Notify makes one delivery attempt.
func (w *Webhook) Notify(ctx context.Context, n Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return Permanent(fmt.Errorf("encode webhook payload: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("webhook request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(KeyHeader, n.Key)
	req.Header.Set(TimestampHeader, strconv.FormatInt(n.SentAt.Unix(), 10))
	if len(w.Secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(w.Secret, body))
	}
	for k, v := range w.Headers {
		req.Header.Set(k, v)
	}
	return post(w.Client, req)
}

func post(c *http.Client, req *http.Request) error {
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err := statusError(resp, b); err != nil {
		return fmt.Errorf("post %s: %w", req.URL.Redacted(), err)
	}
	return nil
}
