package pricing

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

//go:embed data/providers.json
var defaultCatalogJSON []byte

// DefaultSource names the embedded genai-prices catalog in errors and results.
const DefaultSource = "genai-prices (embedded)"

// Catalog resolves (provider, model, time) to prices. It is safe for
// concurrent use; matches are cached so a (provider, model) pair runs its
// match rules once.
type Catalog struct {
	providers []*Provider          // catalog order: overlays' new providers after the default ones
	byID      map[string]*Provider // catalog provider id -> provider

	mu        sync.RWMutex
	cache     map[string]map[string]*Model // provider name -> model string -> match (nil: unknown)
	cached    int
	unknown   map[[2]string]int64
	unknownMu sync.Mutex
	digest    [sha256.Size]byte // of every catalog document added, in order
}

// maxCached bounds the match cache so that a stream of random model strings
// cannot grow memory without limit; past it, lookups still work uncached.
const maxCached = 100_000

// Provider is one catalog provider with its models, overlay models first.
type Provider struct {
	ID            string
	Name          string
	providerMatch *matcher
	modelMatch    *matcher
	fallbacks     []string
	Models        []*Model
}

// Model is one catalog model and its dated price sets.
type Model struct {
	Provider *Provider
	ID       string
	Name     string
	Source   string // file the entry came from
	match    *matcher
	sets     []priceSet
	first    int // index of the set that applies before any dated set starts
}

// Load builds a catalog from the embedded default and the overlay files, in
// order; a later file's models win over earlier ones for the strings they
// match. Every problem in every file is reported, joined.
func Load(overlays ...string) (*Catalog, error) {
	c := &Catalog{byID: map[string]*Provider{}, cache: map[string]map[string]*Model{}, unknown: map[[2]string]int64{}}
	var errs []error
	if err := c.add(DefaultSource, defaultCatalogJSON, false); err != nil {
		errs = append(errs, err)
	}
	for _, path := range overlays {
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("read catalog: %w", err))
			continue
		}
		if err := c.AddOverlay(path, data); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// MustDefault returns the embedded catalog; it panics only if the embedded
// data is broken, which the package tests rule out.
func MustDefault() *Catalog {
	c, err := Load()
	if err != nil {
		panic(err)
	}
	return c
}

// AddOverlay parses one overlay file (JSON, or YAML when the name ends in
// .yaml/.yml) and puts its models ahead of the existing ones.
func (c *Catalog) AddOverlay(name string, data []byte) error {
	ext := strings.ToLower(filepath.Ext(name))
	if ext == ".yaml" || ext == ".yml" {
		j, err := yamlToJSON(data)
		if err != nil {
			return fmt.Errorf("%s: parse yaml: %w", name, err)
		}
		data = j
	}
	return c.add(name, data, true)
}

func (c *Catalog) add(source string, data []byte, overlay bool) error {
	var raw []rawProvider
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("%s: parse: %w", source, err)
	}
	v := &validator{source: source}
	for i := range raw {
		p := v.provider(&raw[i], i)
		if p == nil {
			continue
		}
		existing := c.byID[p.ID]
		switch {
		case existing == nil:
			c.byID[p.ID] = p
			c.providers = append(c.providers, p)
		case overlay:
			for _, m := range p.Models {
				m.Provider = existing
			}
			existing.Models = append(p.Models, existing.Models...)
		default:
			v.fail(p.ID, "", "id", "provider listed twice")
		}
	}
	c.mu.Lock()
	c.cache, c.cached = map[string]map[string]*Model{}, 0
	c.mu.Unlock()
	h := sha256.New()
	h.Write(c.digest[:])
	fmt.Fprintln(h, len(data))
	h.Write(data)
	h.Sum(c.digest[:0])
	return v.err()
}

// Fingerprint names the prices the catalog holds: a digest of the default
// catalog and every overlay's contents, in order (not their file names).
// Two catalogs with the same fingerprint price every event alike.
func (c *Catalog) Fingerprint() string { return hex.EncodeToString(c.digest[:8]) }

// Providers lists the catalog's providers in order.
func (c *Catalog) Providers() []*Provider { return c.providers }

// PricesAt returns the price set that applies to the model at t and the
// date it took effect (zero when the set is undated).
func (m *Model) PricesAt(t time.Time) (*PriceSet, time.Time) {
	s := &m.sets[m.setAt(t)]
	return &s.PriceSet, s.from
}

// setAt picks the set in force at t: the data's rule is that the last entry
// whose constraint holds wins; before a model's first dated price, its first
// known price applies.
func (m *Model) setAt(t time.Time) int {
	for i := len(m.sets) - 1; i >= 0; i-- {
		if m.sets[i].active(t) {
			return i
		}
	}
	return m.first
}
