// Package providers maps usage exports of model providers to schema-v1
// events: pure functions from a provider's JSON to events, no I/O beyond
// the reader they are given. Event ids are derived from the export's own
// keys, so the same export maps to the same events every time.
package providers
