package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jevonsdev/jevons/alert/notify"
	"github.com/jevonsdev/jevons/internal/itest"
)

func sample() notify.Notification {
	return notify.Notification{Key: "k1", Rule: "runaway-agent", Kind: "runaway_task", State: notify.Firing,
		Labels: map[string]string{"tenant": "acme", "task_id": "t-1"}, Annotations: map[string]string{"summary": "task t-1 is running away"},
		Figures: map[string]any{"cost_usd": 12.5, "requests": 40}, StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func TestWebhookSignsTheBodyAndSendsThePayload(t *testing.T) {
	secret := []byte("s3cret")
	var got notify.Notification
	var verified bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		verified = notify.Verify(secret, body, r.Header.Get(notify.SignatureHeader)) && r.Header.Get(notify.KeyHeader) == "k1"
		_ = json.Unmarshal(body, &got)
	}))
	defer srv.Close()
	w := &notify.Webhook{URL: srv.URL, Secret: secret}
	if err := w.Notify(context.Background(), sample()); err != nil {
		t.Fatal(err)
	}
	if !verified {
		t.Fatal("signature or idempotency key header did not verify")
	}
	if got.Key != "k1" || got.Rule != "runaway-agent" || got.Labels["task_id"] != "t-1" || got.Figures["cost_usd"] != 12.5 {
		t.Fatalf("payload: %+v", got)
	}
	if notify.Verify([]byte("other"), []byte("x"), notify.Sign(secret, []byte("x"))) {
		t.Fatal("a signature under another secret verified")
	}
}

func TestHTTPAnswersAreClassified(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		wantErr   bool
		permanent bool
	}{
		{"a 2xx is delivered", 204, false, false},
		{"a 400 is permanent: no retry", 400, true, true},
		{"a 429 is retried", 429, true, false},
		{"a 503 is retried", 503, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tc.status) }))
			defer srv.Close()
			err := (&notify.Webhook{URL: srv.URL}).Notify(context.Background(), sample())
			if (err != nil) != tc.wantErr || notify.IsPermanent(err) != tc.permanent {
				t.Fatalf("status %d: err %v, permanent %v", tc.status, err, notify.IsPermanent(err))
			}
		})
	}
}

func TestSlackMessageHasTextAndBlocks(t *testing.T) {
	var msg struct {
		Text   string           `json:"text"`
		Blocks []map[string]any `json:"blocks"`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&msg)
	}))
	defer srv.Close()
	n := sample()
	n.Verdict = "Unit cost fell 40% but spend rose 80%."
	if err := (&notify.Slack{URL: srv.URL}).Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg.Text, "FIRING: runaway-agent") || !strings.Contains(msg.Text, "running away") {
		t.Fatalf("text %q", msg.Text)
	}
	types := []string{}
	for _, b := range msg.Blocks {
		types = append(types, b["type"].(string))
	}
	if strings.Join(types, ",") != "header,section,section,section,context" {
		t.Fatalf("blocks %v", types)
	}
	raw, _ := json.Marshal(msg.Blocks)
	for _, want := range []string{"cost_usd", "12.5", "Verdict", "tenant=acme"} {
		if !strings.Contains(string(raw), want) {
			t.Fatalf("blocks lack %q: %s", want, raw)
		}
	}
}

// amAlerts reads the alerts Alertmanager holds with the given alertname.
func amAlerts(t *testing.T, base, name string) []map[string]any {
	t.Helper()
	resp, err := http.Get(base + "/api/v2/alerts?filter=alertname%3D%22" + name + "%22")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAlertmanagerReceivesResendsAndResolves(t *testing.T) {
	base := itest.Alertmanager(t)
	name := "jevons_notify_test_" + time.Now().Format("150405.000000")
	am := &notify.Alertmanager{URL: base, Resend: 200 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var posts atomic.Int32
	go func() { _ = am.Run(ctx) }()
	n := sample()
	n.Rule, n.Key, n.StartedAt = name, name, time.Now().UTC()
	if err := am.Notify(ctx, n); err != nil {
		t.Fatal(err)
	}
	posts.Add(1)
	var got []map[string]any
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got = amAlerts(t, base, name); len(got) == 1 {
			break
		}
	}
	if len(got) != 1 {
		t.Fatalf("alertmanager holds %d alerts named %s", len(got), name)
	}
	labels := got[0]["labels"].(map[string]any)
	if labels["tenant"] != "acme" || labels["task_id"] != "t-1" || labels["rule_kind"] != "runaway_task" {
		t.Fatalf("labels %v", labels)
	}
	ends1, _ := time.Parse(time.RFC3339Nano, got[0]["endsAt"].(string))
	time.Sleep(700 * time.Millisecond) // a few re-sends push endsAt on
	again := amAlerts(t, base, name)
	ends2, _ := time.Parse(time.RFC3339Nano, again[0]["endsAt"].(string))
	if !ends2.After(ends1) {
		t.Fatalf("re-sends did not extend endsAt: %v then %v", ends1, ends2)
	}
	n.State = notify.Resolved
	end := time.Now().UTC()
	n.ResolvedAt = &end
	if err := am.Notify(ctx, n); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		got = amAlerts(t, base, name)
		if len(got) == 0 || got[0]["status"].(map[string]any)["state"] != "active" {
			return
		}
		ends, _ := time.Parse(time.RFC3339Nano, got[0]["endsAt"].(string))
		if !ends.After(end.Add(time.Second)) && !ends.After(time.Now()) {
			return
		}
	}
	t.Fatalf("alert still active after resolve: %v", got)
}
