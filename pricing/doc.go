// Package pricing owns the model price catalog and the arithmetic that turns
// one request's token usage into an exact cost.
//
// The catalog is the genai-prices data (embedded, MIT-licensed, see
// data/LICENSE) plus user overlay files that win over it. A model's prices
// are a list of entries, each unconstrained, valid from a start_date, or
// valid during a daily UTC time_of_date range; as in the data, the last entry
// whose constraint holds wins. Before a model's first dated price its first
// known price applies, which is also how reference costs at an early date are
// defined.
//
// Costs are integer nano-dollars, computed exactly in 128-bit integers (big
// integers for the rare price sets whose digits do not fit) and rounded once
// per request, half to even. An unknown model is reported as unpriced, never
// as free. The package does no I/O beyond reading overlay files at load time
// and must stay allocation-free on the per-request path.
package pricing
