package gateway

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jevonsdev/jevons/schemas"
)

// Key is one API key as stored: never the secret, only its SHA-256.
type Key struct {
	ID      string     `json:"id"` // public, shown by `keys list`: the key's first part
	Tenant  string     `json:"tenant"`
	Hash    string     `json:"sha256"`
	Created time.Time  `json:"created"`
	Revoked *time.Time `json:"revoked,omitempty"`
}

// KeysFile is the keys file's content.
type KeysFile struct {
	Keys []Key `json:"keys"`
}

const keyPrefix = "jvk_"

// NewKey makes a key for tenant: the secret to hand out once, and what to
// store. The secret is jvk_<id>_<32 random bytes, hex>.
func NewKey(tenant string, now time.Time) (secret string, k Key, err error) {
	if !validTenant(tenant) {
		return "", Key{}, fmt.Errorf("tenant %q: want 1-%d chars of A-Z a-z 0-9 . _ : -", tenant, schemas.MaxTenant)
	}
	var b [36]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", Key{}, fmt.Errorf("random key: %w", err)
	}
	id := keyPrefix + hex.EncodeToString(b[:4])
	secret = id + "_" + hex.EncodeToString(b[4:])
	return secret, Key{ID: id, Tenant: tenant, Hash: hashKey(secret), Created: now.UTC()}, nil
}

func validTenant(t string) bool {
	e := schemas.Event{Tenant: t, EventID: "x", Time: time.Unix(1, 0), Provider: "x", Model: "x"}
	return e.Validate() == nil
}

func hashKey(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// ReadKeysFile reads a keys file; a missing file has no keys.
func ReadKeysFile(path string) (KeysFile, error) {
	var f KeysFile
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("read keys: %w", err)
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("keys file %s: %w", path, err)
	}
	var errs []error
	seen := map[string]bool{}
	for i, k := range f.Keys {
		if len(k.Hash) != 64 || !validTenant(k.Tenant) || k.ID == "" || seen[k.ID] {
			errs = append(errs, fmt.Errorf("keys file %s: key %d (%q): want a unique id, a valid tenant and a 64-hex sha256", path, i, k.ID))
		}
		seen[k.ID] = true
	}
	return f, errors.Join(errs...)
}

// WriteKeysFile replaces the keys file atomically (write, then rename), so
// a gateway reloading it never reads half a file.
func WriteKeysFile(path string, f KeysFile) error {
	sort.Slice(f.Keys, func(i, j int) bool { return f.Keys[i].Created.Before(f.Keys[j].Created) })
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keys-*")
	if err != nil {
		return fmt.Errorf("write keys: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write keys: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Revoke marks the key with id (or every key of tenant when id is empty)
// revoked; it returns how many keys it revoked.
func (f *KeysFile) Revoke(id, tenant string, now time.Time) int {
	n := 0
	for i := range f.Keys {
		k := &f.Keys[i]
		if k.Revoked == nil && (k.ID == id || (id == "" && k.Tenant == tenant)) && (tenant == "" || k.Tenant == tenant) {
			t := now.UTC()
			k.Revoked = &t
			n++
		}
	}
	return n
}

// Keys authenticates requests against the keys file, reloaded when it
// changes.
type Keys struct {
	path    string
	mu      sync.RWMutex
	byHash  map[string]Key
	modTime time.Time
	size    int64
}

// ErrNoKey and friends are the 401 reasons.
var (
	ErrNoKey      = errors.New("missing API key: send Authorization: Bearer <key>")
	ErrBadKey     = errors.New("unknown API key")
	ErrRevokedKey = errors.New("API key revoked")
)

// OpenKeys loads the keys file.
func OpenKeys(path string) (*Keys, error) {
	k := &Keys{path: path}
	if _, err := k.Reload(); err != nil {
		return nil, err
	}
	return k, nil
}

// Reload reads the file again if it changed; a broken file keeps the keys
// loaded before and returns the error.
func (k *Keys) Reload() (bool, error) {
	st, err := os.Stat(k.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("keys file: %w", err)
	}
	var mt time.Time
	var size int64 = -1
	if err == nil {
		mt, size = st.ModTime(), st.Size()
	}
	k.mu.RLock()
	same := k.byHash != nil && mt.Equal(k.modTime) && size == k.size
	k.mu.RUnlock()
	if same {
		return false, nil
	}
	f, err := ReadKeysFile(k.path)
	if err != nil {
		return false, err
	}
	m := make(map[string]Key, len(f.Keys))
	for _, key := range f.Keys {
		m[key.Hash] = key
	}
	k.mu.Lock()
	k.byHash, k.modTime, k.size = m, mt, size
	k.mu.Unlock()
	return true, nil
}

// Tenant authenticates an Authorization header value.
func (k *Keys) Tenant(authorization string) (string, error) {
	secret, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok {
		secret, ok = strings.CutPrefix(authorization, "bearer ")
	}
	secret = strings.TrimSpace(secret)
	if !ok || secret == "" {
		return "", ErrNoKey
	}
	k.mu.RLock()
	key, found := k.byHash[hashKey(secret)]
	k.mu.RUnlock()
	switch {
	case !found:
		return "", ErrBadKey
	case key.Revoked != nil:
		return "", fmt.Errorf("%w (%s, at %s)", ErrRevokedKey, key.ID, key.Revoked.Format(time.RFC3339))
	}
	return key.Tenant, nil
}
