package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jevonsdev/jevons/alert"
	"github.com/jevonsdev/jevons/alert/notify"
)

// demoRunawayLimit is the runaway rule's request limit: the story's history
// tasks stop at 60 requests, the live runaway task loops past it.
const demoRunawayLimit = 100

// demoRules are the demo's alert rules; %s is the receiver's URL.
const demoRules = `# Alert rules of 'jevons demo'; every notification goes to the demo's
# local webhook receiver, which prints it.
channels:
  demo-receiver:
    type: webhook
    url: %s
rules:
  # In the stream (jevons aggregate --rules): a task looping requests.
  - name: runaway-task
    kind: runaway_task
    group_by: [app]
    labels: {severity: page}
    annotations:
      summary: "task {{.Labels.task_id}} of {{.Labels.tenant}} is past %d requests"
    channels: [demo-receiver]
    runaway: {requests: %d, idle: 10m}
  # Against ClickHouse (jevons alert --rules): the Jevons paradox, month on month.
  - name: jevons-paradox
    kind: jevons
    group_by: [tenant]
    annotations:
      summary: "{{.Labels.tenant}}: unit cost fell but spend rose"
    channels: [demo-receiver]
    jevons: {period: month, timezone: UTC, spend_rise_pct: 20, unit_cost_fall_pct: 10}
`

// demoReceiver is the local webhook receiver: it prints each notification
// as it arrives and counts them by rule.
type demoReceiver struct {
	srv  *http.Server
	url  string
	out  io.Writer
	mu   sync.Mutex
	seen map[string]int // rule -> firing notifications
	keys map[string]bool
	wake chan struct{}
}

func newDemoReceiver(out io.Writer) (*demoReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("alert receiver: %w", err)
	}
	r := &demoReceiver{url: "http://" + ln.Addr().String() + "/alerts", out: out, seen: map[string]int{},
		keys: map[string]bool{}, wake: make(chan struct{}, 1)}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 5 * time.Second}
	go r.srv.Serve(ln)
	return r, nil
}

func (r *demoReceiver) serve(w http.ResponseWriter, req *http.Request) {
	var n notify.Notification
	if err := json.NewDecoder(io.LimitReader(req.Body, 1<<20)).Decode(&n); err != nil {
		http.Error(w, "bad notification: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	// A resend after a crash carries the same idempotency key: count it once.
	dup := r.keys[n.Key+"/"+n.State]
	r.keys[n.Key+"/"+n.State] = true
	if !dup && n.State == "firing" {
		r.seen[n.Rule]++
	}
	if !dup {
		fmt.Fprintf(r.out, "        ALERT %s %s (%s): %s\n", n.State, n.Rule, labelText(n.Labels), firstNonEmpty(n.Annotations["summary"], n.Verdict))
		if n.Verdict != "" && n.Annotations["summary"] != "" {
			fmt.Fprintf(r.out, "              %s\n", n.Verdict)
		}
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// count returns the firing notifications of a rule so far.
func (r *demoReceiver) count(rule string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[rule]
}

// waitFor waits until rule has fired at least once, or timeout.
func (r *demoReceiver) waitFor(rule string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for r.count(rule) == 0 {
		select {
		case <-r.wake:
		case <-deadline:
			return false
		}
	}
	return true
}

func (r *demoReceiver) close() { r.srv.Close() }

func labelText(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + l[k]
	}
	return strings.Join(parts, " ")
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// receiver starts the local receiver and writes the rules file, checked by
// the alert package as `jevons alert check` checks it.
func (d *demo) receiver() (string, error) {
	var err error
	if d.recv, err = newDemoReceiver(d.out); err != nil {
		return "", err
	}
	path := filepath.Join(d.o.dir, "rules.yaml")
	body := fmt.Sprintf(demoRules, d.recv.url, demoRunawayLimit, demoRunawayLimit)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		return "", fmt.Errorf("write rules: %w", err)
	}
	if _, err := alert.Load(path); err != nil {
		return "", fmt.Errorf("demo rules: %w", err)
	}
	d.step(3, "alert receiver on %s prints each notification; rules: %s", d.recv.url, path)
	return path, nil
}
