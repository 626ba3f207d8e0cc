-- Rollup storage, the checkpoint table and the views users query.
-- Rows are whole states keyed by source partition: a newer state of a key
-- carries a higher version (the Kafka offset of its last event) and
-- ReplacingMergeTree keeps the highest; see schemas/clickhouse/README.md.

CREATE TABLE IF NOT EXISTS ${db}.usage_rollup (
    src_partition         UInt32,
    window_start          DateTime('UTC'),
    tenant                String,
    app                   String,
    task_type             String,
    provider              String,
    model                 String,
    operation             String,
    status                String,
    requests              UInt64,
    input_tokens          UInt64,
    output_tokens         UInt64,
    cache_read_tokens     UInt64,
    cache_write_tokens    UInt64,
    cache_write_1h_tokens UInt64,
    reasoning_tokens      UInt64,
    cost_nanos            Int64,
    ref_cost_nanos        Int64,
    unpriced_requests     UInt64,
    latency_ms_sum        UInt64,
    latency_ms_max        UInt64,
    version               UInt64,
    written_at            DateTime('UTC')
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (src_partition, window_start, tenant, app, task_type, provider, model, operation, status);

CREATE TABLE IF NOT EXISTS ${db}.task_rollup (
    src_partition         UInt32,
    tenant                String,
    task_id               String,
    window_start          DateTime('UTC'),
    task_type             String,
    app                   String,
    min_time              DateTime('UTC'),
    max_time              DateTime('UTC'),
    requests              UInt64,
    input_tokens          UInt64,
    output_tokens         UInt64,
    cache_read_tokens     UInt64,
    cache_write_tokens    UInt64,
    cache_write_1h_tokens UInt64,
    reasoning_tokens      UInt64,
    cost_nanos            Int64,
    ref_cost_nanos        Int64,
    unpriced_requests     UInt64,
    models                Array(String),
    done                  UInt8,
    version               UInt64,
    written_at            DateTime('UTC')
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (src_partition, tenant, task_id, window_start);

CREATE TABLE IF NOT EXISTS ${db}.consumer_checkpoints (
    consumer_group  String,
    topic           String,
    partition       UInt32,
    flushed_through Int64,
    replay_from     Int64,
    replay_max_time Int64,
    version         UInt64,
    written_at      DateTime('UTC')
) ENGINE = ReplacingMergeTree(version)
ORDER BY (consumer_group, topic, partition);

CREATE VIEW IF NOT EXISTS ${db}.usage AS
SELECT
    window_start, tenant, app, task_type, provider, model, operation, status,
    sum(requests)              AS requests,
    sum(input_tokens)          AS input_tokens,
    sum(output_tokens)         AS output_tokens,
    sum(cache_read_tokens)     AS cache_read_tokens,
    sum(cache_write_tokens)    AS cache_write_tokens,
    sum(cache_write_1h_tokens) AS cache_write_1h_tokens,
    sum(reasoning_tokens)      AS reasoning_tokens,
    sum(cost_nanos)            AS cost_nanos,
    sum(ref_cost_nanos)        AS ref_cost_nanos,
    sum(unpriced_requests)     AS unpriced_requests,
    sum(latency_ms_sum)        AS latency_ms_sum,
    max(latency_ms_max)        AS latency_ms_max
FROM ${db}.usage_rollup FINAL
GROUP BY window_start, tenant, app, task_type, provider, model, operation, status;

CREATE VIEW IF NOT EXISTS ${db}.tasks AS
SELECT
    tenant, task_id,
    argMin(task_type, min_time)   AS task_type,
    argMin(app, min_time)         AS app,
    min(min_time)                 AS first_seen,
    max(max_time)                 AS last_seen,
    sum(requests)                 AS requests,
    sum(input_tokens)             AS input_tokens,
    sum(output_tokens)            AS output_tokens,
    sum(cache_read_tokens)        AS cache_read_tokens,
    sum(cache_write_tokens)       AS cache_write_tokens,
    sum(cache_write_1h_tokens)    AS cache_write_1h_tokens,
    sum(reasoning_tokens)         AS reasoning_tokens,
    sum(cost_nanos)               AS cost_nanos,
    sum(ref_cost_nanos)           AS ref_cost_nanos,
    sum(unpriced_requests)        AS unpriced_requests,
    arraySort(groupUniqArrayArray(models)) AS models,
    max(done)                     AS done
FROM ${db}.task_rollup FINAL
GROUP BY tenant, task_id;
