-- Alerting: the history users query, and the outbox that makes delivery
-- survive restarts. Written by `jevons alert` (period rules) and by the
-- aggregator's runaway-task rules (package alert).

-- One row per state change of an alert instance, written after its
-- notification was attempted: pending, firing, repeat (a reminder while
-- firing), resolved. notified/failed list the channels.
CREATE TABLE IF NOT EXISTS ${db}.alerts (
    changed_at    DateTime('UTC'),
    changed_ms    UInt64,
    rule          String,
    kind          String,
    group_key     String,
    label_names   Array(String),
    label_values  Array(String),
    state         String,
    value         Float64,
    threshold     Float64,
    started_at    DateTime('UTC'),
    resolved_at   DateTime('UTC'),
    idempotency_key String,
    seq           UInt32,
    notified      Array(String),
    failed        Array(String),
    figures       String,
    owner         String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(changed_at)
ORDER BY (rule, group_key, changed_at);

-- The outbox: a notification is stored here before it is sent (done = 0)
-- and again once every channel was attempted (done = 1, a higher version).
-- A restarted owner re-sends its rows still at done = 0 with the same key;
-- a notification whose (idempotency_key, state, seq) is done is not sent
-- again. owner is "stream/<group>/<partition>" or "period/<name>".
CREATE TABLE IF NOT EXISTS ${db}.alert_outbox (
    idempotency_key String,
    state         String,
    seq           UInt32,
    owner         String,
    rule          String,
    group_key     String,
    payload       String,
    done          UInt8,
    version       UInt64,
    written_at    DateTime('UTC')
) ENGINE = ReplacingMergeTree(version)
ORDER BY (idempotency_key, state, seq);
