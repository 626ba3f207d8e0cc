package report

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// Charts are inline SVG drawn here, so the page needs no script and no
// network. Every chart has a title, labelled axes with units and a legend.

const (
	chartW, chartH         = 640.0, 300.0
	padL, padR, padT, padB = 70.0, 16.0, 16.0, 48.0
	plotW, plotH           = chartW - padL - padR, chartH - padT - padB
	legendRowH             = 18.0
)

var palette = []string{"#1b6ca8", "#d1495b", "#2e933c", "#edae49", "#6a4c93", "#00798c", "#8d6a9f", "#555555"}

type series struct {
	name   string
	values []float64 // NaN: no value in that period
}

type svgBuf struct{ strings.Builder }

func (b *svgBuf) f(format string, a ...any) { fmt.Fprintf(&b.Builder, format, a...) }

func esc(s string) string { return html.EscapeString(s) }

// frame opens an SVG with its title, y-axis label and x labels.
func frame(b *svgBuf, id, title, yLabel, xLabel string, xLabels []string, legend []series) {
	h := chartH + legendRowH*float64((len(legend)+2)/3)
	b.f(`<svg class="chart" data-chart="%s" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, id, chartW, h, esc(title))
	b.f(`<title>%s</title>`, esc(title))
	b.f(`<text x="14" y="%.1f" transform="rotate(-90 14 %.1f)" text-anchor="middle" class="axis-label">%s</text>`, padT+plotH/2, padT+plotH/2, esc(yLabel))
	step := max(1, (len(xLabels)+7)/8)
	for i, l := range xLabels {
		if i%step != 0 && i != len(xLabels)-1 {
			continue
		}
		b.f(`<text x="%.1f" y="%.1f" text-anchor="middle" class="tick">%s</text>`, xAt(i, len(xLabels)), padT+plotH+16, esc(l))
	}
	b.f(`<text x="%.1f" y="%.1f" text-anchor="middle" class="axis-label">%s</text>`, padL+plotW/2, padT+plotH+34, esc(xLabel))
	b.f(`<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" class="axis"/>`, padL, padT+plotH, padL+plotW, padT+plotH)
	b.f(`<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" class="axis"/>`, padL, padT, padL, padT+plotH)
	for i, s := range legend {
		x, y := 10+float64(i%3)*210, chartH+float64(i/3)*legendRowH+4
		b.f(`<rect x="%.0f" y="%.0f" width="12" height="12" fill="%s"/><text x="%.0f" y="%.0f" class="legend">%s</text>`,
			x, y, palette[i%len(palette)], x+16, y+10, esc(s.name))
	}
}

func xAt(i, n int) float64 {
	if n <= 1 {
		return padL + plotW/2
	}
	return padL + plotW*(float64(i)+0.5)/float64(n)
}

// yScale maps values to the plot height, linear or log.
type yScale struct {
	lo, hi float64
	log    bool
}

func (s yScale) at(v float64) float64 {
	lo, hi := s.lo, s.hi
	if s.log {
		v, lo, hi = math.Log(v), math.Log(lo), math.Log(hi)
	}
	return padT + plotH - plotH*(v-lo)/(hi-lo)
}

func bounds(ss []series, log bool) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, v := range s.values {
			if math.IsNaN(v) || (log && v <= 0) {
				continue
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if math.IsInf(lo, 1) {
		return 0, 1
	}
	if log {
		return lo / 1.15, hi * 1.15
	}
	lo = math.Min(lo, 0)
	if hi <= lo {
		hi = lo + 1
	}
	return lo, hi + (hi-lo)*0.08
}

func ticks(s yScale) []float64 {
	var out []float64
	if s.log {
		for e := math.Floor(math.Log2(s.lo)); e <= math.Ceil(math.Log2(s.hi)); e++ {
			if v := math.Pow(2, e); v >= s.lo && v <= s.hi {
				out = append(out, v)
			}
		}
		if len(out) < 2 {
			out = []float64{s.lo * 1.15, 1, s.hi / 1.15}
		}
		return out
	}
	step := niceStep((s.hi - s.lo) / 5)
	for v := math.Ceil(s.lo/step) * step; v <= s.hi; v += step {
		out = append(out, v)
	}
	return out
}

func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func fmtTick(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return strconv.FormatFloat(v/1e9, 'f', -1, 64) + "G"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	case a >= 10 || a == 0:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func gridY(b *svgBuf, s yScale) {
	for _, v := range ticks(s) {
		y := s.at(v)
		b.f(`<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" class="grid"/><text x="%.0f" y="%.1f" text-anchor="end" class="tick">%s</text>`,
			padL, y, padL+plotW, y, padL-6, y+4, fmtTick(v))
	}
}

// lineChart draws one line per series.
func lineChart(id, title, yLabel string, xLabels []string, ss []series, log bool) template.HTML {
	var b svgBuf
	frame(&b, id, title, yLabel, "period start (UTC)", xLabels, ss)
	lo, hi := bounds(ss, log)
	sc := yScale{lo, hi, log}
	gridY(&b, sc)
	for i, s := range ss {
		var pts []string
		for j, v := range s.values {
			if math.IsNaN(v) || (log && v <= 0) {
				continue
			}
			x, y := xAt(j, len(xLabels)), sc.at(v)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
			b.f(`<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s %s: %s</title></circle>`, x, y, palette[i%len(palette)], esc(s.name), esc(xLabels[j]), fmtTick(v))
		}
		if len(pts) > 1 {
			b.f(`<polyline class="series" data-series="%s" fill="none" stroke="%s" stroke-width="2.5" points="%s"/>`,
				esc(s.name), palette[i%len(palette)], strings.Join(pts, " "))
		}
	}
	b.f(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built from escaped parts
}

// stackedBars draws one bar per period, stacked by series.
func stackedBars(id, title, yLabel string, xLabels []string, ss []series) template.HTML {
	var b svgBuf
	frame(&b, id, title, yLabel, "period start (UTC)", xLabels, ss)
	totals := make([]float64, len(xLabels))
	for _, s := range ss {
		for j, v := range s.values {
			if !math.IsNaN(v) {
				totals[j] += v
			}
		}
	}
	lo, hi := bounds([]series{{values: totals}}, false)
	sc := yScale{lo, hi, false}
	gridY(&b, sc)
	bw := plotW / float64(max(1, len(xLabels))) * 0.7
	base := make([]float64, len(xLabels))
	for i, s := range ss {
		for j, v := range s.values {
			if math.IsNaN(v) || v <= 0 {
				continue
			}
			y0, y1 := sc.at(base[j]), sc.at(base[j]+v)
			b.f(`<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`,
				xAt(j, len(xLabels))-bw/2, y1, bw, y0-y1, palette[i%len(palette)], esc(s.name), esc(xLabels[j]), fmtTick(v))
			base[j] += v
		}
	}
	b.f(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built from escaped parts
}

// waterfall draws C0, the three effects and C1.
func waterfall(id, title string, c0, volume, mix, price, c1 float64, labels [5]string) template.HTML {
	var b svgBuf
	frame(&b, id, title, "USD", "first period, the three effects, last period", labels[:], nil)
	steps := []float64{c0, volume, mix, price, c1}
	run, lo, hi := 0.0, math.Min(0, c0), math.Max(c0, c1)
	for i, v := range steps[1:4] {
		_ = i
		run += v
		lo, hi = math.Min(lo, c0+run), math.Max(hi, c0+run)
	}
	if hi <= lo {
		hi = lo + 1
	}
	sc := yScale{lo, hi + (hi-lo)*0.08, false}
	gridY(&b, sc)
	bw := plotW / 5 * 0.6
	level := 0.0
	for i, v := range steps {
		from, to := level, level+v
		cls := "delta"
		if i == 0 || i == 4 {
			from, to, cls = 0, v, "total"
		}
		color := "#1b6ca8"
		if cls == "delta" {
			color = "#2e933c"
			if v > 0 {
				color = "#d1495b" // spend up
			}
		}
		y0, y1 := sc.at(math.Min(from, to)), sc.at(math.Max(from, to))
		b.f(`<rect class="bar %s" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s USD</title></rect>`,
			cls, xAt(i, 5)-bw/2, y1, bw, math.Max(1, y0-y1), color, esc(labels[i]), strconv.FormatFloat(v, 'f', 2, 64))
		b.f(`<text x="%.1f" y="%.1f" text-anchor="middle" class="value">%s</text>`, xAt(i, 5), y1-4, signed(v, i == 0 || i == 4))
		if i == 0 {
			level = v
		} else if i < 4 {
			level += v
		}
	}
	b.f(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built from escaped parts
}

func signed(v float64, total bool) string {
	s := "$" + strconv.FormatFloat(math.Abs(v), 'f', 2, 64)
	switch {
	case total:
		return s
	case v < 0:
		return "-" + s
	}
	return "+" + s
}
