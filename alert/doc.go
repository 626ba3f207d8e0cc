// Package alert owns alerting: rules files (validated with every problem
// listed by file, rule and field), alert instances and their state machine
// (inactive -> pending -> firing -> resolved), evaluation, and delivery
// through the channels of package notify with a bounded queue, retries, an
// outbox and a history in ClickHouse. It reads the rollups; it must not
// write them, and it must never block the aggregator's partitions.
//
// # Where rules run
//
//   - runaway_task: in the stream, inside `jevons aggregate --rules FILE`.
//     Runaway implements aggregate.Observer: after each event is added to its
//     task partial, the partition's goroutine evaluates the task in memory
//     and hands a notification, if any, to the Dispatcher's bounded queue
//     (a full queue drops and counts). A task's events share a partition,
//     and each partition has one owner, so several aggregator replicas never
//     evaluate one task twice.
//   - budget, threshold, spike, jevons: in `jevons alert`, on a schedule,
//     against ClickHouse (Period). Replicas of one --name elect one active
//     evaluator through a Kafka consumer group (Lead); the others stand by.
//
// # Exact task totals
//
// A task's total is the sum over its task windows of each window's partial,
// taking for each window the partial with the highest version (Kafka offset
// of its last event) among those the stream handed over (the whole partial
// after every event) and those stored in task_rollup. A new owner of a
// partition (start, restart, rebalance) loads the stored partials of the
// partition's tasks not done within the lookback (default 24h) once, in the
// background; until then a task is judged on what was observed, a lower
// bound, so it may fire late but never falsely. Partials are whole states,
// so the total equals the tasks view once everything is flushed. Late
// events that reach a window below the aggregator's floor (the cold path)
// are counted in the rollups but not observed.
//
// # Idempotency and restarts
//
// Every notification carries a key derived only from (rule, group labels,
// episode): for runaway limits the episode is the task itself (a total only
// grows, so it crosses once), for spend rates the event time of the
// crossing event, for budgets the period start, for jevons rules the
// compared period, for threshold and spike rules the start of the firing
// (persisted before it is sent). Reminders reuse the key with seq = n.
// The Dispatcher stores each notification in alert_outbox before sending
// (done = 0) and marks it done after; it skips a (key, state, seq) already
// done. After SIGKILL, a restarted owner re-sends its undelivered outbox
// rows with the same key, and a replayed crossing event finds its
// notification done. Delivery is at least once: a crash between a
// channel's answer and the done mark re-sends with the same key, which
// receivers (and Alertmanager, by labels) deduplicate.
//
// # History
//
// Every state change is a row of the alerts table (rule, kind, group
// labels, state, value, threshold, started_at, resolved_at, notified and
// failed channels, figures as JSON), written after delivery was attempted.
package alert
