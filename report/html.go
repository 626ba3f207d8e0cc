package report

import (
	"html/template"
	"io"
	"math"
	"strconv"

	"github.com/jevonsdev/jevons/analytics"
)

var page = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Jevons report {{.D.From}} to {{.D.To}}</title>
<style>
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:980px;padding:12px;color:#222}
h1{font-size:1.25em;margin:.2em 0}h2{font-size:1.05em;margin:1.4em 0 .3em}
.verdict{font-size:1.35em;font-weight:650;padding:.5em .7em;border-left:6px solid #d1495b;background:#f6f6f6}
.para{margin:.6em 0 1em}.muted{color:#666;font-size:.9em}
svg.chart{width:100%;height:auto;display:block}
svg .axis{stroke:#444}svg .grid{stroke:#ddd}svg text{font:12px system-ui,sans-serif;fill:#333}
svg .axis-label{font-size:12px;fill:#555}svg .value{font-size:12px;font-weight:600}
table{border-collapse:collapse;width:100%;font-size:.86em;font-variant-numeric:tabular-nums}
th,td{padding:3px 6px;border-bottom:1px solid #e3e3e3;text-align:right}th:first-child,td:first-child{text-align:left}
.scroll{overflow-x:auto}
figure{margin:0 0 1em;break-inside:avoid}
@media print{body{max-width:none}.verdict{background:none}}
</style></head><body>
<h1>Jevons report, {{.D.From}} to {{.D.To}} ({{.D.TZ}}), by {{.D.By}}: {{.Slice}}</h1>
<p class="verdict" id="verdict">{{.Headline}}</p>
<p class="para" id="paragraph">{{.Paragraph}}</p>
{{if not .D.Empty}}
<figure><h2>Usage, unit cost and spend (index, first period = 1, log scale)</h2>{{.Jevons}}</figure>
<figure><h2>Why spend moved: volume, mix and price (USD, first to last period)</h2>{{.Waterfall}}</figure>
<figure><h2>Tokens per task by task type</h2>{{.TokensPerTask}}</figure>
<figure><h2>Cost per task by task type (USD)</h2>{{.CostPerTask}}</figure>
<figure><h2>Spend by model (USD, stacked)</h2>{{.SpendByModel}}</figure>
<h2>Periods</h2>
<div class="scroll"><table id="periods"><thead><tr><th>period</th><th>requests</th><th>tasks</th><th>tokens</th><th>cost USD</th><th>USD/Mtok</th><th>price index</th><th>mix USD/Mtok</th><th>tokens/task</th><th>USD/task</th><th>unpriced req</th></tr></thead><tbody>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</tbody></table></div>
{{end}}
<h2>Unpriced models</h2>
{{if .D.UnpricedModels}}<p class="muted">Counted in requests and tokens, left out of unit cost: add their prices in a catalog overlay.</p>
<div class="scroll"><table id="unpriced"><thead><tr><th>provider/model</th><th>requests</th><th>tokens</th></tr></thead><tbody>
{{range .D.UnpricedModels}}<tr><td>{{.Provider}}/{{.Model}}</td><td>{{.Requests}}</td><td>{{.Tokens}}</td></tr>
{{end}}</tbody></table></div>{{else}}<p class="muted" id="unpriced">None: every request in the range had a price.</p>{{end}}
<p class="muted">Unit cost u = cost / tokens; price index = cost / reference cost; mix = reference cost / tokens; so cost = tokens x mix x price index. The split of the change in spend is log-mean Divisia (LMDI-I) and adds up exactly.</p>
</body></html>
`))

type pageData struct {
	D                                                           *Document
	Slice, Headline, Paragraph                                  string
	Jevons, Waterfall, TokensPerTask, CostPerTask, SpendByModel template.HTML
	Rows                                                        [][]string
}

// HTML writes the report as one self-contained page.
func HTML(w io.Writer, d *Document) error {
	p := pageData{D: d, Slice: sliceName(d.Slice), Headline: Headline(d), Paragraph: Paragraph(d)}
	if !d.Empty {
		xs := make([]string, len(d.Periods))
		for i, per := range d.Periods {
			xs[i] = per.Start
		}
		p.Jevons = lineChart("jevons", "Usage, unit cost and spend", "index, first period = 1 (log)", xs, []series{
			{"usage (tokens)", index(d.Periods, func(f PeriodFigures) float64 { return float64(f.PricedTokens) })},
			{"unit cost (USD/Mtok)", index(d.Periods, func(f PeriodFigures) float64 { return val(f.UnitCostUSDPerMtok) })},
			{"spend (USD)", index(d.Periods, func(f PeriodFigures) float64 { return float64(f.CostNanos) })},
		}, true)
		first, last := d.Periods[0], d.Periods[len(d.Periods)-1]
		s := d.Summary.Decomposition
		p.Waterfall = waterfall("waterfall", "Change in spend: volume, mix, price", usd(first.CostUSD), usd(s.Volume), usd(s.Mix), usd(s.Price), usd(last.CostUSD),
			[5]string{"spend " + first.Start, "volume", "mix", "price", "spend " + last.Start})
		var tok, cost []series
		for _, tt := range d.ByTaskType {
			name := tt.TaskType
			if name == "" {
				name = "(none)"
			}
			ts, cs := series{name: name}, series{name: name}
			for _, per := range tt.Periods {
				ts.values = append(ts.values, val(per.TokensPerTask))
				c := math.NaN()
				if per.CostPerTaskUSD != nil {
					c = usd(*per.CostPerTaskUSD)
				}
				cs.values = append(cs.values, c)
			}
			tok, cost = append(tok, ts), append(cost, cs)
		}
		p.TokensPerTask = lineChart("tokens-per-task", "Tokens per task by task type", "tokens per task", xs, tok, false)
		p.CostPerTask = lineChart("cost-per-task", "Cost per task by task type", "USD per task", xs, cost, false)
		p.SpendByModel = stackedBars("spend-by-model", "Spend by model", "USD", xs, modelSeries(d.ByModel))
		for _, per := range d.Periods {
			perTask := "-"
			if per.CostPerTaskUSD != nil {
				perTask = trimUSD(*per.CostPerTaskUSD, 4)
			}
			p.Rows = append(p.Rows, []string{per.Start, u(per.Requests), u(per.Tasks), u(per.Tokens), trimUSD(per.CostUSD, 2),
				num(per.UnitCostUSDPerMtok, 4), num(per.PriceIndex, 3), num(per.MixUSDPerMtok, 4), num(per.TokensPerTask, 0), perTask, u(per.UnpricedRequests)})
		}
	}
	return page.Execute(w, p)
}

// modelSeries keeps the seven biggest models and sums the rest.
func modelSeries(ms []ModelSeries) []series {
	var out []series
	for i, m := range ms {
		vals := make([]float64, len(m.Periods))
		for j, per := range m.Periods {
			vals[j] = float64(per.CostNanos) / 1e9
		}
		if i < 7 {
			out = append(out, series{name: m.Provider + "/" + m.Model, values: vals})
			continue
		}
		if i == 7 {
			out = append(out, series{name: "other models", values: make([]float64, len(vals))})
		}
		for j, v := range vals {
			out[7].values[j] += v
		}
	}
	return out
}

func index(ps []PeriodFigures, f func(PeriodFigures) float64) []float64 {
	out := make([]float64, len(ps))
	base := math.NaN()
	for i, p := range ps {
		v := f(p)
		if math.IsNaN(base) && v > 0 {
			base = v
		}
		out[i] = v / base
		if v <= 0 || math.IsNaN(base) {
			out[i] = math.NaN()
		}
	}
	return out
}

func val(f analytics.Factor) float64 {
	if !f.Defined {
		return math.NaN()
	}
	return f.Value
}

func usd(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

func u(v uint64) string { return strconv.FormatUint(v, 10) }
