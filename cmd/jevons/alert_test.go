package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAlertCheckAcceptsTheExampleAndListsProblems(t *testing.T) {
	var out, errOut bytes.Buffer
	// the two files define a channel of the same name: a problem, listed
	if code := run(context.Background(), []string{"alert", "check", "../../deploy/rules.example.yaml", "../../deploy/rules.compose.yaml"}, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), `channel "alertmanager": already defined in ../../deploy/rules.example.yaml`) {
		t.Fatalf("exit %d: %s%s", code, out.String(), errOut.String())
	}
	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), []string{"alert", "check", "../../deploy/rules.example.yaml"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "ok: 5 rules") {
		t.Fatalf("exit %d: %s%s", code, out.String(), errOut.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("rules:\n  - name: x\n    kind: budget\n    budget: {period: day}\n    channels: [nowhere]\n"), 0o644)
	out.Reset()
	errOut.Reset()
	code := run(context.Background(), []string{"alert", "check", bad}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), `rule "x": budget.limit: missing`) || !strings.Contains(errOut.String(), `unknown channel "nowhere"`) {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}
