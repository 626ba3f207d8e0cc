// Package analytics owns the economics of Jevons, defined once: the figures
// of a slice over a period, the comparison of two periods (unit cost, price
// index, mix intensity, their factors, the elasticity proxy and the verdict)
// and the exact split of a change in spend into volume, mix and price. The
// pure functions here are what every report, JSON document and alert uses;
// the query layer (Querier) reads the figures from ClickHouse. Rendering
// belongs to report/, never here.
//
// # The economics
//
// For a slice (tenant, app, task type, provider, model; any may be "all") and
// a period:
//
//   - Q: tokens of priced requests (input + output; input includes cache
//     reads and writes, output includes reasoning)
//   - C: cost at each request's own price; R: the same tokens at reference
//     prices; N: requests; T: tasks with a request in the period
//   - unit cost u = C/Q, price index pi = C/R (a Paasche index: the pure price
//     effect), mix intensity m = R/Q (reference dollars per token: which
//     models and which token kinds are used)
//
// so C = Q x m x pi exactly, spend factor C1/C0 = usage factor Q1/Q0 x mix
// factor m1/m0 x price factor pi1/pi0, and unit-cost factor u1/u0 = mix
// factor x price factor.
//
// The change in spend splits with no residual (log-mean Divisia, LMDI-I): with
// L(a,b) = (a-b)/(ln a - ln b) and L(a,a) = a, volume = L(C1,C0) ln(Q1/Q0),
// mix = L(C1,C0) ln(m1/m0), price = L(C1,C0) ln(pi1/pi0). The three are
// returned in integer nano-dollars: each term is rounded to the nano-dollar
// and the rounding remainder (at most a nano-dollar or two) goes to the
// largest term, so volume + mix + price = C1 - C0 exactly.
//
// Zero periods are explicit, never NaN: when C is zero in one period the
// whole change goes to the factor that is zero there (the limit of LMDI with
// a vanishing value): a slice new in period 1 is all volume ("new usage"), a
// retired one all negative volume ("usage stopped"); free tokens that became
// priced are all price, and so on. When a reference price is zero while the
// list price is not (m = 0, pi undefined), mix and price cannot be told apart
// and their sum is reported as price.
//
// Elasticity proxy e = -ln(Q1/Q0) / ln(u1/u0), defined only when unit cost
// fell (by more than the 1% no-change band) with priced usage in both periods.
//
// Verdict (the same words in the report, the JSON and alerts): with u1/u0
// within 1% of 1, "no change"; else when u fell, "usage growth outpaces
// unit-cost decline" if C rose (equivalently e > 1), "unit-cost decline
// outpaces usage growth" if C fell or stayed; when u rose, "unit cost
// rising". Without priced usage in period 0 the verdict is "new usage", in
// period 1 "usage stopped"; with none in either, "no change".
//
// # Unpriced usage
//
// A request whose model the catalog does not know has no cost and no
// reference cost. Its tokens are never part of Q, so they cannot silently
// lower the unit cost: Totals carries them apart (UnpricedRequests,
// UnpricedTokens), Tokens() counts all tokens, and PricedTokens() is Q. The
// query layer puts a rollup row with any unpriced request on the unpriced
// side whole; rows are keyed by model, and a model is either known to the
// catalog or not, so rows do not mix the two in practice.
package analytics
