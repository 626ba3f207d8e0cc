// Package aggregate owns `jevons aggregate`: it consumes token events from
// Kafka, prices each at its own time (package pricing), folds them into
// event-time windows per source partition and writes whole-state rollups to
// ClickHouse (package sink) so that the views "usage" and "tasks" are exact
// whatever crashes, replays, rebalances, outages, late events and duplicate
// deliveries happen. It must not decode anything but schema v1 (package
// schemas) or write anywhere but through sink and the dead-letter topic.
//
// # Data path
//
// Per assigned partition, one goroutine owns a partition value: decode and
// check each message, advance the partition's event-time clock (its newest
// event time), drop duplicates, price the event twice (own time, reference
// time), and add it to its states: the usage states of (window, tenant, app,
// task_type, provider, model, operation, status) at each resolution (the
// 1-minute window, table usage_rollup, the UTC day, table
// usage_daily_rollup, and the UTC month, table usage_monthly_rollup; see
// resolution.go) and the task state of (task
// window, tenant, task_id). Every message ends in one outcome:
// aggregated, duplicate, late_corrected, dead_lettered, or replayed (below
// the checkpoint, or already inside a stored state after a crash).
//
// # Storage: rows are states, not deltas
//
// A row of a usage table or task_rollup holds the whole state of its key for
// one source partition: every counted event of that partition and key up to
// offset version. ReplacingMergeTree(version) keeps the highest version and
// the views read FINAL and sum across partitions. A newer state of a key (a
// later flush, a late correction) carries a higher version; a replayed state
// is identical to the one already stored.
//
// # Flush protocol
//
// A flush snapshots the states changed since the last one and writes, in
// order: dead letters (acks=all), the rollup rows, then the partition's
// checkpoint row {flushed_through, replay_from, replay_max_time, catalog,
// catalog_from}; then it
// commits replay_from to Kafka for tooling. The ClickHouse checkpoint is
// authoritative. Processing continues while one flush is in flight; a state
// changed meanwhile is flushed again next time.
//
//   - flushed_through: every event below it is inside a written state.
//   - replay_from: the oldest offset whose duplicate-set entry can still
//     match; replay_max_time: the clock as it stood at that offset.
//   - catalog: the fingerprint of the price catalog the partition's events
//     are priced with from catalog_from on. An owner whose catalog differs
//     takes over at activation with catalog_from = flushed_through, logs
//     both fingerprints and counts it; stored costs are never restated.
//
// # Restart, rebalance, crash
//
// A partition's new owner (after a crash, kill -9 or rebalance) reads the
// checkpoint, sets the clock to replay_max_time and fetches from replay_from.
// Messages below flushed_through only rebuild the duplicate set and the
// clock. At the first message at or above flushed_through it loads the stored
// usage states of windows that may still be open (window start >= floor,
// where the floor is the window holding clock - allowed lateness, per
// resolution); from then on memory is authoritative for usage windows at or
// above the floor. Task states are not loaded whole: until the task windows
// open at the restart close, a task not in memory is loaded by key. An event
// for a window below the floor (a late event) or for a task state evicted
// from memory loads that key's stored state first (batched by key, the keys
// sent as an external table), then applies the event. A key that was never
// stored is not loaded: a Bloom filter of the partition's stored keys
// (stored.go), read from ClickHouse when the late path is first needed
// (after the checkpoint was read, with no flush in flight) and fed with
// every flushed state before its write, has no false negatives for the
// windows it covers (the correction horizon before the clock, widened to
// the whole window holding its start at each resolution: the month of the
// horizon's first day). Before
// letting a partition go on revocation or SIGTERM, the owner flushes; the
// rebalance timeout covers that final flush.
//
// # Proof sketch
//
//  1. Every counted event is in exactly one stored state per table: its key's
//     state in its source partition. States only grow, by offset order.
//  2. A replayed event is recognised: a state loaded with version v already
//     holds every event of its key at offsets <= v (states are whole), so
//     events at offsets <= v are skipped for that key; events below
//     flushed_through are never re-added (they only refill the duplicate
//     set). A flush that wrote rows but died before its checkpoint is covered
//     by (2): its rows carry their versions.
//     A late key is loaded unless the stored-keys filter shows it was never
//     stored: every row holding an event below flushed_through landed
//     before the checkpoint was read, so before the filter was read, and
//     every row this owner writes later is added before it is written; so a
//     key missing from the filter holds no event below flushed_through,
//     and this owner adds its events from there on, in offset order.
//  3. Duplicate decisions are a pure function of the message sequence from
//     replay_from: an entry matches while its insertion clock is within the
//     horizon of the current clock or its offset is within DedupMaxEntries/4
//     messages, entries leave only when they can never match again or, past
//     DedupMaxEntries, oldest first at an admission (both functions of the
//     sequence), the replay start is the oldest entry kept, and replay
//     restores the clock at replay_from. So a replay decides every message
//     at or above flushed_through as the first run did. Dead-letter and
//     too-old/future checks use only the message (its event time against
//     its Kafka timestamp), never the wall clock; the broker bounds how far
//     ahead of its clock a producer's timestamp may be.
//  4. No state is written with a lower version than one stored: a key's
//     state is written only by its partition's owner, starting from the
//     stored state, and versions are offsets, which only grow. A zombie
//     owner writes the same deterministic states, so it cannot lower one.
//  5. Dead letters are written before the checkpoint, in offset order, one
//     produce request per chunk, so what landed of a partition's dead
//     letters is a prefix. On restart, and after a failed write, the owner
//     reads its dead-letter partition back from the end until it finds its
//     last dead letter (the DLQ has the input topic's partition count and
//     source partition p writes to partition p mod n) and does not resend
//     offsets already there. The rebalance waits for the old owner's final
//     flush (rebalance timeout = shutdown timeout + session timeout).
//
// # Memory
//
// Memory is bounded by configuration, whatever the arrival order (a
// backfill of history in random order included). It holds:
//   - the duplicate set: at most DedupMaxEntries entries per partition,
//     about 17 bytes each measured from the heap (BenchmarkDedupBytesPerEntry;
//     a 64-bit fingerprint and a 32-bit clock and offset delta in
//     insertion-ordered chunks, plus a 32-bit slot of the open-addressing
//     table at a load of 0.7 to 0.85; see dedup.go), so 200,000 entries cost
//     about 3.4 MiB per owned partition, at most a few chunks (48 KiB) more;
//   - usage states of open windows (per dimension combination, one per
//     minute, one per day and one per month), keyed by window and the
//     combination's interned dims: one copy of each combination's strings
//     per partition, shared by its states, and a table of them rebuilt from
//     the states kept once it holds twice as many (a task state may keep a
//     record the rebuild left out until its next event); and task states of open task
//     windows (evicted when done or idle, reloaded by key on demand); of
//     the clean late states (late corrections, and states whose window
//     closed), at most MaxDirty/10 minute and MaxDirty/10 day states and
//     MaxDirty month states (the newest) stay after their flush: month
//     keys are few, and every late event of their month corrects them;
//   - a 512 KiB Bloom filter of stored keys per partition;
//   - at most 100,000 16-byte hashes of evicted tasks per partition; past
//     that, a window loads every task not in memory by key;
//   - about MaxDirty changed task and minute states, waiting late events
//     and dead letters per partition, with the day and month states the
//     same events changed (a flush holds at most 3*MaxDirty+2 states; see
//     partition.pressure), plus one flush in flight.
//
// Each partition is read from its leader's fetch responses (fetch.go), with
// at most ten batches of 512 messages between the fetch and the partition,
// each holding its messages' keys and values in 64 KiB chunks that are
// reused, not allocated per message (kafkaread.go). A soft memory limit
// (--memory-limit-mib) bounds the heap, and `jevons aggregate` has the
// collector run as the heap nears it (GOGC off) rather than each time the
// heap doubles: the Go runtime is held an eighth of it (24 to 32 MiB)
// below, so that the resident set, the binary's own pages included (about
// 22 MiB), stays under it.
package aggregate
