// Package report renders an analytics.Result as text for a terminal, as the
// JSON document other tools consume (a stable contract, see Document) and as
// one self-contained HTML page with inline SVG charts (no scripts, no
// network). It computes nothing of the economics itself: every figure comes
// from package analytics.
package report
