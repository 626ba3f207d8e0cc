// Package notify delivers alert notifications to their channels: a signed
// JSON webhook, a Slack incoming webhook and Prometheus Alertmanager's v2
// API, all behind one seam, Notifier. A channel makes one delivery attempt
// per call and says whether a failure is worth retrying (Permanent marks
// the ones that are not); retries, queues and counting belong to the
// caller (package alert). It must not evaluate rules or read ClickHouse.
package notify
