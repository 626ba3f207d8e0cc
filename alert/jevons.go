package alert

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jevonsdev/jevons/analytics"
)

// jevons compares the last complete period with the one before it, per
// group, with package analytics (the same factors and verdict words as the
// reports). The instance's episode is the compared pair, so each pair is
// notified once, and it resolves when the next pair no longer qualifies.
func (p *Period) jevons(ctx context.Context, r *Rule, now time.Time) ([]obs, error) {
	j := r.Jevons
	cur, _ := periodBounds(now, j.Period, j.loc, j.fixed)
	p1s, _ := periodBounds(cur.Add(-time.Nanosecond), j.Period, j.loc, j.fixed)
	p0s, _ := periodBounds(p1s.Add(-time.Nanosecond), j.Period, j.loc, j.fixed)
	t0, err := p.q.totals(ctx, r, p0s, p1s)
	if err != nil {
		return nil, err
	}
	t1, err := p.q.totals(ctx, r, p1s, cur)
	if err != nil {
		return nil, err
	}
	groups := map[string]map[string]string{}
	for k, g := range t0 {
		groups[k] = g.labels
	}
	for k, g := range t1 {
		groups[k] = g.labels
	}
	var out []obs
	for k, labels := range groups {
		c := analytics.Compare(t0[k].t, t1[k].t)
		spendRise := pct(c.SpendFactor)
		unitFall := -pct(c.UnitCostFactor)
		tptRise := pct(ratioOf(t1[k].t.TokensPerTask(), t0[k].t.TokensPerTask()))
		cond := (j.SpendRisePct > 0 && c.SpendFactor.Defined && c.UnitCostFactor.Defined && spendRise >= j.SpendRisePct && unitFall >= j.UnitCostFallPct) ||
			(j.TokensPerTaskRisePct > 0 && tptRise >= j.TokensPerTaskRisePct)
		figs := map[string]any{
			"period_start": p1s.UTC(), "period_end": cur.UTC(), "previous_start": p0s.UTC(),
			"spend_factor": factorFig(c.SpendFactor), "usage_factor": factorFig(c.UsageFactor), "unit_cost_factor": factorFig(c.UnitCostFactor),
			"tokens_per_task_factor": factorFig(ratioOf(t1[k].t.TokensPerTask(), t0[k].t.TokensPerTask())),
			"spend_rise_pct":         spendRise, "unit_cost_fall_pct": unitFall, "tokens_per_task_rise_pct": tptRise,
			"verdict":           string(c.Verdict),
			"cost_usd":          float64(t1[k].t.CostNanos) / 1e9,
			"previous_cost_usd": float64(t0[k].t.CostNanos) / 1e9,
		}
		out = append(out, obs{labels: labels, cond: cond, value: spendRise, threshold: j.SpendRisePct,
			episode: strconv.FormatInt(p1s.Unix(), 10), figures: figs, verdict: verdictSentence(labels, c)})
	}
	return out, nil
}

// ratioOf is a/b of two per-task figures, undefined when either is.
func ratioOf(a, b analytics.Factor) analytics.Factor {
	if !a.Defined || !b.Defined || b.Value == 0 {
		return analytics.Factor{Reason: "not defined in both periods"}
	}
	return analytics.Factor{Value: a.Value / b.Value, Defined: true}
}

func pct(f analytics.Factor) float64 {
	if !f.Defined {
		return 0
	}
	return (f.Value - 1) * 100
}

func factorFig(f analytics.Factor) any {
	if !f.Defined {
		return nil
	}
	return f.Value
}

// verdictSentence says it in one line, with the analytics verdict words.
func verdictSentence(labels map[string]string, c analytics.Comparison) string {
	var who []string
	for _, k := range sortedKeys(labels) {
		who = append(who, labels[k])
	}
	subject := "all usage"
	if len(who) > 0 {
		subject = strings.Join(who, "/")
	}
	f := func(x analytics.Factor) string {
		if !x.Defined {
			return "n/a"
		}
		return fmt.Sprintf("x%.2f", x.Value)
	}
	return fmt.Sprintf("%s: %s (spend %s, tokens %s, unit cost %s)", subject, c.Verdict, f(c.SpendFactor), f(c.UsageFactor), f(c.UnitCostFactor))
}

// groupTotals is one group's analytics totals.
type groupTotals struct {
	labels map[string]string
	t      analytics.Totals
}

// totals reads analytics.Totals per group over [from, to): usage states for
// requests, tokens and money (a row with any unpriced request counts on the
// unpriced side whole, as package analytics defines), task partials whose
// window starts in the range for the task count.
func (q *Querier) totals(ctx context.Context, r *Rule, from, to time.Time) (map[string]groupTotals, error) {
	by := r.GroupBy
	sums := `sum(requests), sum(input_tokens), sum(output_tokens), sum(cost_nanos), sum(ref_cost_nanos), sum(unpriced_requests),
       sumIf(input_tokens + output_tokens, unpriced_requests > 0)`
	query := fmt.Sprintf("SELECT %s FROM (%s)", strings.Join(append(append([]string{}, by...), sums), ", "),
		q.usageRows(from, to, r.scope.sql(usageColumns)))
	if len(by) > 0 {
		query += " GROUP BY " + strings.Join(by, ", ")
	}
	rows, err := q.Conn.Query(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("query totals: %w", err)
	}
	defer rows.Close()
	out := map[string]groupTotals{}
	for rows.Next() {
		vals := make([]string, len(by))
		var t analytics.Totals
		ptrs := []any{}
		for i := range vals {
			ptrs = append(ptrs, &vals[i])
		}
		ptrs = append(ptrs, &t.Requests, &t.InputTokens, &t.OutputTokens, &t.CostNanos, &t.RefCostNanos, &t.UnpricedRequests, &t.UnpricedTokens)
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("query totals: %w", err)
		}
		labels := map[string]string{}
		for i, b := range by {
			labels[b] = vals[i]
		}
		out[groupKey(labels)] = groupTotals{labels: labels, t: t}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// tasks per group (task partials carry tenant, app and task_type only)
	var taskBy []string
	for _, b := range by {
		if b == "tenant" || b == "app" || b == "task_type" {
			taskBy = append(taskBy, b)
		}
	}
	if len(taskBy) < len(by) {
		return out, nil // tasks cannot be split by provider or model: per-task figures stay undefined
	}
	tq := fmt.Sprintf("SELECT %s FROM (SELECT tenant, task_id, app, task_type FROM %s.task_rollup FINAL WHERE window_start >= toDateTime(%d) AND window_start < toDateTime(%d) AND %s)",
		strings.Join(append(append([]string{}, by...), "toFloat64(uniqExact(tenant, task_id))"), ", "), q.DB, from.Unix(), to.Unix(),
		r.scope.sql(map[string]bool{"tenant": true, "app": true, "task_type": true}))
	if len(by) > 0 {
		tq += " GROUP BY " + strings.Join(by, ", ")
	}
	gs, err := q.groups(ctx, tq, by, 1)
	if err != nil {
		return nil, err
	}
	for _, g := range gs {
		k := groupKey(g.labels)
		gt := out[k]
		gt.labels = g.labels
		gt.t.Tasks = uint64(g.value)
		out[k] = gt
	}
	return out, nil
}
