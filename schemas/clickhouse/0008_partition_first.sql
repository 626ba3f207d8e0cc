-- The day and month usage states sorted by source partition first, as the
-- minute states are. The aggregator loads the stored states of a
-- partition's late keys by key; sorted by day first (0003, 0007), each load
-- read every partition's states, so a backfill of history read the whole
-- table again at every flush. Sorted by partition first, a load reads its
-- own partition's states. A date range (with or without a tenant) still
-- reads only its days: within each partition the rows are sorted by day,
-- then tenant.
--
-- ClickHouse cannot change the order of a table's existing sorting key, so
-- each table is copied aside, created again in the new order and refilled.
-- Every step can run again after a crash without losing a state: the copy
-- is dropped only after the refill, a missing table is created empty
-- before it is read, and a state copied twice is one state (same key and
-- version). Run it with no aggregator writing (`jevons migrate`, or the
-- first `jevons aggregate` to start, which migrates before it consumes): a
-- state written between the copy and the drop would be lost.

CREATE TABLE IF NOT EXISTS ${db}.usage_daily_rollup_0008 (
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
ORDER BY (src_partition, window_start, tenant, app, task_type, provider, model, operation, status);

INSERT INTO ${db}.usage_daily_rollup_0008 (src_partition, window_start, tenant, app, task_type, provider, model, operation, status, requests, input_tokens, output_tokens,
    cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, cost_nanos, ref_cost_nanos, unpriced_requests,
    latency_ms_sum, latency_ms_max, version, written_at)
SELECT src_partition, window_start, tenant, app, task_type, provider, model, operation, status, requests, input_tokens, output_tokens,
    cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, cost_nanos, ref_cost_nanos, unpriced_requests,
    latency_ms_sum, latency_ms_max, version, written_at
FROM ${db}.usage_daily_rollup;

DROP TABLE IF EXISTS ${db}.usage_daily_rollup;

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
ORDER BY (src_partition, window_start, tenant, app, task_type, provider, model, operation, status);

INSERT INTO ${db}.usage_daily_rollup (src_partition, window_start, tenant, app, task_type, provider, model, operation, status, requests, input_tokens, output_tokens,
    cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, cost_nanos, ref_cost_nanos, unpriced_requests,
    latency_ms_sum, latency_ms_max, version, written_at)
SELECT src_partition, window_start, tenant, app, task_type, provider, model, operation, status, requests, input_tokens, output_tokens,
    cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, cost_nanos, ref_cost_nanos, unpriced_requests,
    latency_ms_sum, latency_ms_max, version, written_at
FROM ${db}.usage_daily_rollup_0008;

DROP TABLE IF EXISTS ${db}.usage_daily_rollup_0008;

CREATE TABLE IF NOT EXISTS ${db}.usage_monthly_rollup_0008 (
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
PARTITION BY toYear(window_start)
ORDER BY (src_partition, window_start, tenant, app, task_type, provider, model, operation, status);

CREATE TABLE IF NOT EXISTS ${db}.usage_monthly_rollup (
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
PARTITION BY toYear(window_start)
ORDER BY (src_partition, window_start, tenant, app, task_type, provider, model, operation, status);

INSERT INTO ${db}.usage_monthly_rollup_0008 (src_partition, window_start, tenant, app, task_type, provider, model, operation, status, requests, input_tokens, output_tokens,
    cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, cost_nanos, ref_cost_nanos, unpriced_requests,
    latency_ms_sum, latency_ms_max, version, written_at)
SELECT src_partition, window_start, tenant, app, task_type, provider, model, operation, status, requests, input_tokens, output_tokens,
    cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, cost_nanos, ref_cost_nanos, unpriced_requests,
    latency_ms_sum, latency_ms_max, version, written_at
FROM ${db}.usage_monthly_rollup;

DROP TABLE IF EXISTS ${db}.usage_monthly_rollup;

CREATE TABLE IF NOT EXISTS ${db}.usage_monthly_rollup (
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
PARTITION BY toYear(window_start)
ORDER BY (src_partition, window_start, tenant, app, task_type, provider, model, operation, status);

INSERT INTO ${db}.usage_monthly_rollup (src_partition, window_start, tenant, app, task_type, provider, model, operation, status, requests, input_tokens, output_tokens,
    cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, cost_nanos, ref_cost_nanos, unpriced_requests,
    latency_ms_sum, latency_ms_max, version, written_at)
SELECT src_partition, window_start, tenant, app, task_type, provider, model, operation, status, requests, input_tokens, output_tokens,
    cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, cost_nanos, ref_cost_nanos, unpriced_requests,
    latency_ms_sum, latency_ms_max, version, written_at
FROM ${db}.usage_monthly_rollup_0008;

DROP TABLE IF EXISTS ${db}.usage_monthly_rollup_0008;
