-- Month-window usage states, written by the aggregator beside the minute
-- and day ones: the same whole states per source partition (versioned by
-- the Kafka offset of their last event, ReplacingMergeTree keeps the
-- highest), with window_start at 00:00 UTC of the first day of the UTC
-- calendar month. A monthly report over a year reads a twelfth of a year of
-- days. The partition key is a function of window_start, part of the sort
-- key, so no newer state of a row ever lands in another partition.

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
ORDER BY (window_start, tenant, src_partition, app, task_type, provider, model, operation, status);

-- The months already in the day states, derived once: a month's state of a
-- key is the sum of its day states, versioned by the newest of them (each
-- day state is whole up to its version, and a flush writes every changed
-- state before its checkpoint, so the month holds every event of the key up
-- to that offset). Run with the aggregators stopped, as `jevons aggregate`
-- does at start: a state written after this derivation by an aggregator
-- without month states would be missing from its month. Applying it again
-- writes the same rows with the same versions.
INSERT INTO ${db}.usage_monthly_rollup
    (src_partition, window_start, tenant, app, task_type, provider, model, operation, status, requests, input_tokens, output_tokens,
     cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, cost_nanos, ref_cost_nanos, unpriced_requests,
     latency_ms_sum, latency_ms_max, version, written_at)
SELECT src_partition, toDateTime(toStartOfMonth(window_start), 'UTC') AS m, tenant, app, task_type, provider, model, operation, status,
       sum(requests), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(cache_write_1h_tokens),
       sum(reasoning_tokens), sum(cost_nanos), sum(ref_cost_nanos), sum(unpriced_requests), sum(latency_ms_sum), max(latency_ms_max),
       max(version), now()
FROM ${db}.usage_daily_rollup FINAL
GROUP BY src_partition, m, tenant, app, task_type, provider, model, operation, status;

CREATE VIEW IF NOT EXISTS ${db}.usage_monthly AS
SELECT
    toDate(window_start) AS month, tenant, app, task_type, provider, model, operation, status,
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
FROM ${db}.usage_monthly_rollup FINAL
GROUP BY month, tenant, app, task_type, provider, model, operation, status;

-- The tasks with a request on each UTC day, per tenant, app, task type and
-- model, as sets (uniqExact states of tenant and task_id) that a
-- materialized view adds to on every insert into task_rollup. A set is
-- exact whatever is written more than once: a newer version of a task
-- window, a replayed flush and the derivation below add tasks already in
-- it, and a window's task type, app and tenant never change while its
-- models only grow. Tasks per period (or per task type, or per model) are
-- the union of its days' sets: a year is about a hundred thousand small
-- rows instead of every task window. model is each of the window's models
-- ('' when it has none). Sorted by tenant first in small granules: a set is
-- read whole, so one tenant's report must skip the other tenants' rows.
CREATE TABLE IF NOT EXISTS ${db}.task_days (
    day       Date,
    tenant    String,
    app       String,
    task_type String,
    model     String,
    tasks     AggregateFunction(uniqExact, String, String)
) ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (tenant, day, app, task_type, model)
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.task_days_mv TO ${db}.task_days AS
SELECT toDate(window_start) AS day, tenant, app, task_type, arrayJoin(if(empty(models), [''], models)) AS model,
       uniqExactState(tenant, task_id) AS tasks
FROM ${db}.task_rollup
GROUP BY day, tenant, app, task_type, model;

-- The task windows stored before the view existed (created first, so no
-- insert falls between the two; one seen by both is one set member).
INSERT INTO ${db}.task_days (day, tenant, app, task_type, model, tasks)
SELECT toDate(window_start) AS day, tenant, app, task_type, arrayJoin(if(empty(models), [''], models)) AS model,
       uniqExactState(tenant, task_id) AS tasks
FROM ${db}.task_rollup
GROUP BY day, tenant, app, task_type, model;
