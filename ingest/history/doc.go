// Package history loads past usage into Jevons through the same exact
// pipeline as live traffic: each past request becomes a schema-v1 event on
// the event topic, keyed like live events, with the Kafka message timestamp
// set to the event's own time, so the aggregator's correction horizon (which
// is measured from the message timestamp) accepts it and prices it at the
// price in force on that day.
//
// Event ids are derived from the input (the file's own ids for NDJSON, a
// hash of the bucket for provider exports), so importing the same file twice
// sends the same events and the aggregator counts them once, as it counts
// producer retries once, as long as the second import falls within its
// dedup horizon of the first per key; rows already flushed are whole states
// keyed by the same windows, which a replay rewrites, not adds to. Every bad
// line is an error naming its line number; nothing is skipped silently.
//
// Kafka deletes messages by their timestamp: history older than the topic's
// retention.ms is deleted once its segment rolls, so run the aggregator while
// importing (or raise retention for the import).
package history
