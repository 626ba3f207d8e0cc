// Package loadgen makes seeded synthetic token traffic: tenants, apps, task
// types, agent tasks of varying length, models from the price catalog with
// realistic token counts, cache reads and writes, reasoning tokens and
// errors; on request also malformed messages, duplicates and late events.
// Alongside, it keeps the exact truth (per tenant, per model, per task) that
// the pipeline's SQL must equal. It must not depend on the aggregator.
package loadgen
