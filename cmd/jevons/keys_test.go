package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jevonsdev/jevons/ingest/gateway"
)

func TestKeysCreateListRevoke(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	keys := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(context.Background(), append([]string{"keys"}, append(args, "--keys", path)...), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	code, out, _ := keys("create", "--tenant", "acme", "--json")
	var created struct{ ID, Tenant, Key string }
	if err := json.Unmarshal([]byte(out), &created); code != 0 || err != nil || created.Tenant != "acme" || !strings.HasPrefix(created.Key, created.ID+"_") {
		t.Fatalf("create: %d %q %v", code, out, err)
	}
	if code, _, _ := keys("create", "--tenant", "globex"); code != 0 {
		t.Fatalf("create globex: %d", code)
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte(created.Key)) {
		t.Fatal("the keys file holds a secret")
	}
	k, err := gateway.OpenKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	if tenant, err := k.Tenant("Bearer " + created.Key); err != nil || tenant != "acme" {
		t.Fatalf("authenticate: %q %v", tenant, err)
	}
	if code, out, _ := keys("list", "--tenant", "acme"); code != 0 || !strings.Contains(out, created.ID) || strings.Contains(out, "globex") {
		t.Fatalf("list: %d %q", code, out)
	}
	if code, _, _ := keys("revoke", "--id", created.ID); code != 0 {
		t.Fatalf("revoke: %d", code)
	}
	if code, _, errOut := keys("revoke", "--id", created.ID); code != 1 || !strings.Contains(errOut, "no active key") {
		t.Fatalf("second revoke: %d %q", code, errOut)
	}
	if _, err := k.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Tenant("Bearer " + created.Key); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("after revoke: %v", err)
	}
	if code, _, errOut := keys("create", "--tenant", "no spaces"); code != 1 || !strings.Contains(errOut, "tenant") {
		t.Fatalf("bad tenant: %d %q", code, errOut)
	}
}
