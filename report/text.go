package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/jevonsdev/jevons/analytics"
)

// Text writes a table per period and the verdict in one paragraph.
func Text(w io.Writer, d *Document) error {
	fmt.Fprintf(w, "Jevons report %s to %s (%s) by %s, %s\n\n", d.From, d.To, d.TZ, d.By, sliceName(d.Slice))
	if d.Empty {
		_, err := fmt.Fprintf(w, "No requests match this slice between %s and %s: nothing to report.\n", d.From, d.To)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "period\trequests\ttasks\ttokens\tcost USD\tUSD/Mtok\tprice index\tmix USD/Mtok\ttokens/task\tUSD/task\tunpriced req\t")
	for _, p := range d.Periods {
		perTask := "-"
		if p.CostPerTaskUSD != nil {
			perTask = trimUSD(*p.CostPerTaskUSD, 4)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", p.Start, p.Requests, p.Tasks, p.Tokens,
			trimUSD(p.CostUSD, 2), num(p.UnitCostUSDPerMtok, 4), num(p.PriceIndex, 3), num(p.MixUSDPerMtok, 4),
			num(p.TokensPerTask, 0), perTask, p.UnpricedRequests)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%s\n", Paragraph(d))
	if len(d.UnpricedModels) > 0 {
		fmt.Fprintln(w, "\nUnpriced models (counted, not in unit cost; add them to a price overlay):")
		for _, m := range d.UnpricedModels {
			fmt.Fprintf(w, "  %s/%s: %d requests, %d tokens\n", m.Provider, m.Model, m.Requests, m.Tokens)
		}
	}
	return nil
}

// Headline is the verdict sentence.
func Headline(d *Document) string {
	if d.Empty {
		return "No requests match this slice in the range."
	}
	v := d.Summary.Verdict
	return strings.ToUpper(v[:1]) + v[1:] + "."
}

// Paragraph explains the verdict in words a finance reader follows.
func Paragraph(d *Document) string {
	if d.Empty {
		return Headline(d)
	}
	s := d.Summary
	first, last := d.Periods[0], d.Periods[len(d.Periods)-1]
	var b strings.Builder
	fmt.Fprintf(&b, "%s From the period starting %s to the one starting %s, spend went from $%s to $%s (%s)",
		Headline(d), first.Start, last.Start, trimUSD(first.CostUSD, 2), trimUSD(last.CostUSD, 2), change(s.SpendFactor))
	fmt.Fprintf(&b, " while priced tokens went %s and the cost per million tokens went from $%s to $%s (%s).",
		change(s.UsageFactor), num(first.UnitCostUSDPerMtok, 4), num(last.UnitCostUSDPerMtok, 4), change(s.UnitCostFactor))
	if s.PriceFactor.Defined && s.MixFactor.Defined {
		fmt.Fprintf(&b, " List prices alone moved unit cost %s; the choice of models and token kinds moved it %s.",
			change(s.PriceFactor), change(s.MixFactor))
	}
	fmt.Fprintf(&b, " Of the change in spend, %s comes from more or fewer tokens, %s from the mix and %s from prices.",
		dollars(s.Decomposition.Volume), dollars(s.Decomposition.Mix), dollars(s.Decomposition.Price))
	if s.Elasticity.Defined {
		fmt.Fprintf(&b, " Usage grew %.2f%% for each 1%% fall in unit cost (elasticity %.2f).", s.Elasticity.Value, s.Elasticity.Value)
	}
	if n := unpriced(d); n > 0 {
		fmt.Fprintf(&b, " %d requests had no price and are left out of unit cost.", n)
	}
	return b.String()
}

func unpriced(d *Document) (n uint64) {
	for _, p := range d.Periods {
		n += p.UnpricedRequests
	}
	return n
}

func sliceName(s analytics.Slice) string {
	var parts []string
	for _, f := range []struct{ k, v string }{{"tenant", s.Tenant}, {"app", s.App}, {"task type", s.TaskType}, {"provider", s.Provider}, {"model", s.Model}} {
		if f.v != "" {
			parts = append(parts, f.k+" "+f.v)
		}
	}
	if len(parts) == 0 {
		return "all usage"
	}
	return strings.Join(parts, ", ")
}

// change words a factor as a signed percentage.
func change(f analytics.Factor) string {
	if !f.Defined {
		return "not comparable"
	}
	pct := (f.Value - 1) * 100
	switch {
	case pct >= 0.05:
		return fmt.Sprintf("up %.1f%%", pct)
	case pct <= -0.05:
		return fmt.Sprintf("down %.1f%%", -pct)
	}
	return "unchanged"
}

func num(f analytics.Factor, prec int) string {
	if !f.Defined {
		return "-"
	}
	return strconv.FormatFloat(f.Value, 'f', prec, 64)
}

// trimUSD shortens an exact decimal to prec places for display (the JSON
// keeps all nine).
func trimUSD(s string, prec int) string {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

// dollars renders a signed USD amount with cents: -$1.25, $3.00.
func dollars(s string) string {
	if strings.HasPrefix(s, "-") {
		return "-$" + trimUSD(s[1:], 2)
	}
	return "$" + trimUSD(s, 2)
}
