package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Alertmanager posts alerts to Prometheus Alertmanager's v2 API
// (POST /api/v2/alerts). Like Prometheus, it re-sends every firing alert
// every Resend with endsAt = now + 4*Resend, so Alertmanager keeps it
// active while Jevons runs and resolves it on its own if Jevons stops
// for good; a resolve is sent with endsAt = the resolve time.
type Alertmanager struct {
	URL          string // base URL, e.g. http://127.0.0.1:9095
	Resend       time.Duration
	GeneratorURL string
	Client       *http.Client
	Log          *zap.Logger
	Now          func() time.Time

	mu     sync.Mutex
	active map[string]amAlert // by idempotency key
}

type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

func (a *Alertmanager) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Alertmanager) resend() time.Duration {
	if a.Resend <= 0 {
		return time.Minute
	}
	return a.Resend
}

// AlertmanagerLabels are the labels an alert carries: the instance's labels
// plus alertname (the rule), rule_kind and, for stream alerts, the task.
func AlertmanagerLabels(n Notification) map[string]string {
	l := make(map[string]string, len(n.Labels)+2)
	for k, v := range n.Labels {
		l[sanitizeLabel(k)] = v
	}
	l["alertname"] = n.Rule
	l["rule_kind"] = n.Kind
	return l
}

func sanitizeLabel(k string) string {
	b := []byte(k)
	for i, c := range b {
		ok := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}

// Notify posts n; a firing alert joins the set re-sent by Run.
func (a *Alertmanager) Notify(ctx context.Context, n Notification) error {
	ann := make(map[string]string, len(n.Annotations)+len(n.Figures)+2)
	for k, v := range n.Annotations {
		ann[k] = v
	}
	for k, v := range n.Figures {
		ann[k] = FormatFigure(v)
	}
	if n.Verdict != "" {
		ann["verdict"] = n.Verdict
	}
	ann["idempotency_key"] = n.Key
	al := amAlert{Labels: AlertmanagerLabels(n), Annotations: ann, StartsAt: n.StartedAt, GeneratorURL: a.GeneratorURL}
	now := a.now()
	a.mu.Lock()
	if a.active == nil {
		a.active = map[string]amAlert{}
	}
	if n.State == Resolved {
		al.EndsAt = now
		if n.ResolvedAt != nil {
			al.EndsAt = *n.ResolvedAt
		}
		delete(a.active, n.Key)
	} else {
		al.EndsAt = now.Add(4 * a.resend())
		a.active[n.Key] = al
	}
	a.mu.Unlock()
	return a.post(ctx, []amAlert{al})
}

// Forget drops an alert from the re-send set without resolving it.
func (a *Alertmanager) Forget(key string) {
	a.mu.Lock()
	delete(a.active, key)
	a.mu.Unlock()
}

// Run re-sends the firing alerts every Resend until ctx ends.
func (a *Alertmanager) Run(ctx context.Context) error {
	t := time.NewTicker(a.resend())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		a.mu.Lock()
		batch := make([]amAlert, 0, len(a.active))
		ends := a.now().Add(4 * a.resend())
		for k, al := range a.active {
			al.EndsAt = ends
			a.active[k] = al
			batch = append(batch, al)
		}
		a.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		if err := a.post(ctx, batch); err != nil && a.Log != nil {
			a.Log.Warn("alertmanager re-send failed; next try at the next interval", zap.Int("alerts", len(batch)), zap.Error(err))
		}
	}
}

func (a *Alertmanager) post(ctx context.Context, alerts []amAlert) error {
	body, err := json.Marshal(alerts)
	if err != nil {
		return Permanent(fmt.Errorf("encode alertmanager alerts: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(a.URL, "/")+"/api/v2/alerts", bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("alertmanager request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	return post(a.Client, req)
}
