package pricing

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/dlclark/regexp2/v2"
)

type matchKind uint8

const (
	matchEquals matchKind = iota
	matchStartsWith
	matchEndsWith
	matchContains
	matchRegex
	matchOr
	matchAnd
)

// matcher is one compiled genai-prices match clause.
type matcher struct {
	kind matchKind
	s    string
	re   *regexp.Regexp
	re2  *regexp2.Regexp // patterns RE2 cannot express, e.g. lookaheads
	subs []*matcher
}

func parseMatcher(raw json.RawMessage) (*matcher, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("want an object with one clause: %w", err)
	}
	if len(obj) != 1 {
		return nil, fmt.Errorf("want exactly one clause, got %d", len(obj))
	}
	for k, v := range obj {
		switch k {
		case "or", "and":
			var list []json.RawMessage
			if err := json.Unmarshal(v, &list); err != nil || len(list) == 0 {
				return nil, fmt.Errorf("%s: want a non-empty list of clauses", k)
			}
			m := &matcher{kind: matchOr}
			if k == "and" {
				m.kind = matchAnd
			}
			for i, item := range list {
				sub, err := parseMatcher(item)
				if err != nil {
					return nil, fmt.Errorf("%s[%d]: %w", k, i, err)
				}
				m.subs = append(m.subs, sub)
			}
			return m, nil
		case "equals", "starts_with", "ends_with", "contains", "regex":
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fmt.Errorf("%s: want a string", k)
			}
			return newLeaf(k, s)
		default:
			return nil, fmt.Errorf("unknown clause %q (want equals, starts_with, ends_with, contains, regex, or, and)", k)
		}
	}
	panic("unreachable")
}

func newLeaf(kind, s string) (*matcher, error) {
	m := &matcher{s: s}
	switch kind {
	case "equals":
		m.kind = matchEquals
	case "starts_with":
		m.kind = matchStartsWith
	case "ends_with":
		m.kind = matchEndsWith
	case "contains":
		m.kind = matchContains
	case "regex":
		m.kind = matchRegex
		re, err := regexp.Compile(s)
		if err == nil {
			m.re = re
			return m, nil
		}
		re2, err2 := regexp2.Compile(s)
		if err2 != nil {
			return nil, fmt.Errorf("regex %q: %w", s, err2)
		}
		re2.MatchTimeout = 100 * time.Millisecond
		m.re2 = re2
	}
	return m, nil
}

func (m *matcher) match(s string) bool {
	if m == nil {
		return false
	}
	switch m.kind {
	case matchEquals:
		return s == m.s
	case matchStartsWith:
		return strings.HasPrefix(s, m.s)
	case matchEndsWith:
		return strings.HasSuffix(s, m.s)
	case matchContains:
		return strings.Contains(s, m.s)
	case matchRegex:
		if m.re != nil {
			return m.re.MatchString(s)
		}
		ok, err := m.re2.MatchString(s)
		return ok && err == nil
	case matchOr:
		for _, sub := range m.subs {
			if sub.match(s) {
				return true
			}
		}
		return false
	case matchAnd:
		for _, sub := range m.subs {
			if !sub.match(s) {
				return false
			}
		}
		return true
	}
	return false
}

// otelProviders maps OpenTelemetry gen_ai.provider.name values to catalog ids.
var otelProviders = map[string]string{
	"gcp.gemini":         "google",
	"gcp.vertex_ai":      "google",
	"gcp.gen_ai":         "google",
	"aws.bedrock":        "aws",
	"azure.ai.openai":    "azure",
	"azure.ai.inference": "azure",
	"x_ai":               "x-ai",
	"mistral_ai":         "mistral",
	"openai":             "openai",
	"anthropic":          "anthropic",
	"deepseek":           "deepseek",
	"groq":               "groq",
	"cohere":             "cohere",
	"perplexity":         "perplexity",
	"moonshot_ai":        "moonshotai",
	"zhipu_ai":           "zhipuai",
}

// Match finds the catalog model for a provider name and model string, using
// the cache. It returns nil for an unknown model.
func (c *Catalog) Match(provider, model string) *Model {
	c.mu.RLock()
	m, ok := c.cache[provider][model]
	c.mu.RUnlock()
	if ok {
		return m
	}
	m = c.resolve(provider, model)
	c.mu.Lock()
	if c.cached < maxCached {
		// The cache keeps its own copies: a caller's strings may point
		// into a buffer it reuses (the aggregator's fetched batches).
		byModel := c.cache[provider]
		if byModel == nil {
			byModel = map[string]*Model{}
			c.cache[strings.Clone(provider)] = byModel
		}
		if _, dup := byModel[model]; !dup {
			byModel[strings.Clone(model)] = m
			c.cached++
		}
	}
	c.mu.Unlock()
	return m
}

// resolve runs the match rules: provider by OpenTelemetry name, catalog id,
// then the providers' own rules; model within the provider, then within its
// fallback providers.
func (c *Catalog) resolve(provider, model string) *Model {
	p := c.findProvider(provider, model)
	if p == nil {
		return nil
	}
	if m := p.findModel(model); m != nil {
		return m
	}
	for _, id := range p.fallbacks {
		if fp := c.byID[id]; fp != nil {
			if m := fp.findModel(model); m != nil {
				return m
			}
		}
	}
	return nil
}

func (c *Catalog) findProvider(provider, model string) *Provider {
	if id, ok := otelProviders[provider]; ok {
		if p := c.byID[id]; p != nil {
			return p
		}
	}
	if p := c.byID[provider]; p != nil {
		return p
	}
	lower := strings.ToLower(provider)
	for _, p := range c.providers {
		if p.providerMatch.match(lower) {
			return p
		}
	}
	for _, p := range c.providers {
		if p.modelMatch.match(model) {
			return p
		}
	}
	return nil
}

func (p *Provider) findModel(model string) *Model {
	for _, m := range p.Models {
		if m.match.match(model) {
			return m
		}
	}
	return nil
}
