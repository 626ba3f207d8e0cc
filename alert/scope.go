package alert

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"text/template"
)

// matcher is a compiled Scope: one anchored regular expression per
// dimension that has a pattern. The same expressions filter in Go (the
// stream) and in ClickHouse (match(), RE2 in both).
type matcher struct {
	tenant, app, taskType, provider, model *regexp.Regexp
}

// globRE turns an exact value or a glob (* any run, ? one character) into
// an anchored regular expression; "" matches everything.
func globRE(glob string) string {
	var b strings.Builder
	b.WriteString("^")
	for _, r := range glob {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return b.String()
}

func newMatcher(s Scope) (matcher, error) {
	var m matcher
	for _, f := range []struct {
		name, glob string
		dst        **regexp.Regexp
	}{{"tenant", s.Tenant, &m.tenant}, {"app", s.App, &m.app}, {"task_type", s.TaskType, &m.taskType},
		{"provider", s.Provider, &m.provider}, {"model", s.Model, &m.model}} {
		if f.glob == "" {
			continue
		}
		if strings.ContainsAny(f.glob, "[]{}\\") {
			return m, fmt.Errorf("%s: %q: only exact values and the globs * and ? are supported", f.name, f.glob)
		}
		*f.dst = regexp.MustCompile(globRE(f.glob))
	}
	return m, nil
}

func (m matcher) ok(re *regexp.Regexp, v string) bool { return re == nil || re.MatchString(v) }

// task reports whether a task's dimensions are in scope (provider and
// model scopes do not apply to tasks: a task may use several).
func (m matcher) task(tenant, app, taskType string) bool {
	return m.ok(m.tenant, tenant) && m.ok(m.app, app) && m.ok(m.taskType, taskType)
}

// sql returns the scope as a ClickHouse condition over the given columns
// ("1" when unscoped).
func (m matcher) sql(columns map[string]bool) string {
	conds := []string{"1"}
	for col, re := range map[string]*regexp.Regexp{"tenant": m.tenant, "app": m.app, "task_type": m.taskType, "provider": m.provider, "model": m.model} {
		if re != nil && columns[col] {
			conds = append(conds, fmt.Sprintf("match(%s, %s)", col, quote(re.String())))
		}
	}
	return strings.Join(conds, " AND ")
}

// quote renders s as a ClickHouse string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// figureNames are the figures each kind's payload carries; templates may
// use them as {{.Figures.name}}.
var figureNames = map[string][]string{
	KindBudget:    {"metric", "spent", "limit", "used_pct", "threshold_pct", "period_start", "period_end", "projected"},
	KindThreshold: {"metric", "value", "threshold", "op", "window", "range_start", "range_end"},
	KindSpike:     {"metric", "value", "baseline", "factor", "floor", "window", "range_start", "range_end"},
	KindRunaway:   {"tenant", "task_id", "task_type", "app", "models", "requests", "tokens", "cost_usd", "rate_usd_per_min", "limit", "first_seen", "last_seen", "duration_s"},
	KindJevons:    {"period_start", "period_end", "previous_start", "spend_factor", "usage_factor", "unit_cost_factor", "tokens_per_task_factor", "spend_rise_pct", "unit_cost_fall_pct", "tokens_per_task_rise_pct"},
}

// templateData is what annotation templates see.
type templateData struct {
	Rule    string
	Kind    string
	State   string
	Labels  map[string]string
	Figures map[string]any
}

func (r *Rule) compileTemplates() []string {
	var ps []string
	r.templates = map[string]*template.Template{}
	sample := templateData{Rule: r.Name, Kind: r.Kind, State: "firing", Labels: map[string]string{}, Figures: map[string]any{}}
	for _, g := range r.GroupBy {
		sample.Labels[g] = "x"
	}
	switch r.Kind {
	case KindRunaway:
		sample.Labels["tenant"], sample.Labels["task_id"] = "x", "x"
	case KindBudget:
		sample.Labels["threshold_pct"] = "x"
	}
	for k, v := range r.Labels {
		sample.Labels[k] = v
	}
	for _, f := range figureNames[r.Kind] {
		sample.Figures[f] = 1.0
	}
	for k, text := range r.Annotations {
		t, err := template.New(k).Option("missingkey=error").Parse(text)
		if err != nil {
			ps = append(ps, fmt.Sprintf("annotations.%s: template: %v", k, err))
			continue
		}
		if err := t.Execute(&bytes.Buffer{}, sample); err != nil {
			ps = append(ps, fmt.Sprintf("annotations.%s: template: %v", k, err))
			continue
		}
		r.templates[k] = t
	}
	return ps
}

// annotate renders the annotations; a template that fails at run time
// keeps its source text, so the notification still goes out.
func (r *Rule) annotate(d templateData) map[string]string {
	out := make(map[string]string, len(r.templates))
	for k, t := range r.templates {
		var b bytes.Buffer
		if err := t.Execute(&b, d); err != nil {
			out[k] = r.Annotations[k]
			continue
		}
		out[k] = b.String()
	}
	return out
}
