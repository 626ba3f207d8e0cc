-- Day-window usage states, written by the aggregator beside the 1-minute
-- ones: the same whole states per source partition (versioned by the Kafka
-- offset of their last event, ReplacingMergeTree keeps the highest), with
-- window_start at 00:00 UTC. A year of days is what long-range reports read,
-- instead of a year of minutes. Sorted by day first, so a date range reads
-- only its days.

CREATE TABLE IF NOT EXISTS ${db}.usage_daily_rollup (
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
ORDER BY (window_start, tenant, src_partition, app, task_type, provider, model, operation, status);

CREATE VIEW IF NOT EXISTS ${db}.usage_daily AS
SELECT
    toDate(window_start) AS day, tenant, app, task_type, provider, model, operation, status,
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
FROM ${db}.usage_daily_rollup FINAL
GROUP BY day, tenant, app, task_type, provider, model, operation, status;
