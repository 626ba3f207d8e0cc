-- Documented queries (README "Querying"): each one runs in CI on ClickHouse
-- 18.16 and on a current server (chDB). ${db} is the Jevons database.

-- Spend and tokens per tenant and model, last 7 days, in USD.
SELECT tenant, model,
       sum(requests) AS requests,
       sum(input_tokens + output_tokens) AS tokens,
       sum(cost_nanos) / 1e9 AS cost_usd
FROM ${db}.usage
WHERE window_start >= now() - INTERVAL 7 DAY
GROUP BY tenant, model
ORDER BY cost_usd DESC
LIMIT 20;

-- Unit cost against usage per day: cost per million tokens, token volume,
-- spend, and the same tokens at reference prices (the price effect).
SELECT toDate(window_start) AS day,
       sum(input_tokens + output_tokens) AS tokens,
       sum(cost_nanos) / 1e9 AS cost_usd,
       sum(ref_cost_nanos) / 1e9 AS ref_cost_usd,
       if(tokens = 0, 0, sum(cost_nanos) / 1e3 / tokens) AS usd_per_mtok
FROM ${db}.usage
GROUP BY day
ORDER BY day;

-- The most expensive tasks, running tasks included.
SELECT tenant, task_id, task_type, requests, cost_nanos / 1e9 AS cost_usd,
       first_seen, last_seen, models, done
FROM ${db}.tasks
ORDER BY cost_nanos DESC
LIMIT 20;

-- Cost per task by task type: mean and 95th percentile.
SELECT task_type,
       count() AS tasks,
       avg(cost_nanos) / 1e9 AS mean_cost_usd,
       quantile(0.95)(cost_nanos) / 1e9 AS p95_cost_usd,
       avg(requests) AS mean_requests
FROM ${db}.tasks
WHERE done = 1
GROUP BY task_type
ORDER BY mean_cost_usd DESC;

-- Requests the catalog could not price, by model.
SELECT provider, model, sum(unpriced_requests) AS unpriced
FROM ${db}.usage
GROUP BY provider, model
HAVING unpriced > 0
ORDER BY unpriced DESC;

-- Per-minute spend of one tenant over the last hour.
SELECT window_start, sum(cost_nanos) / 1e9 AS cost_usd, sum(requests) AS requests
FROM ${db}.usage
WHERE tenant = 'acme' AND window_start >= now() - INTERVAL 1 HOUR
GROUP BY window_start
ORDER BY window_start;

-- Alerting: the last state changes of every alert (the history of package alert).
SELECT changed_at, rule, group_key, state, value, threshold, started_at, notified, failed
FROM ${db}.alerts
ORDER BY changed_at DESC
LIMIT 20;

-- Alerting (the form `jevons alert` queries): a budget's spend per tenant since the period start,
-- the table read FINAL with the filters inside.
SELECT tenant, sum(cost_nanos) / 1e9
FROM (SELECT window_start, tenant, app, task_type, provider, model, status, requests, input_tokens, output_tokens, cost_nanos, ref_cost_nanos, unpriced_requests
      FROM ${db}.usage_rollup FINAL
      WHERE window_start >= toDateTime(1748736000) AND window_start < toDateTime(1748822400) AND 1 AND match(tenant, '^acme.*$'))
GROUP BY tenant;

-- Alerting: a spike's window against the same window of the last 3 periods, in one pass.
SELECT tenant, sumIf(v, k = 0), sumIf(v, k >= 1) / 3
FROM (SELECT tenant, intDiv(1748779200 - toInt64(toUInt32(window_start)) - 1, 600) AS k, sum(cost_nanos) / 1e9 AS v
      FROM (SELECT window_start, tenant, cost_nanos FROM ${db}.usage_rollup FINAL
            WHERE window_start >= toDateTime(1748777100) AND window_start < toDateTime(1748779200) AND 1)
      WHERE (1748779200 - toInt64(toUInt32(window_start)) - 1) % 600 < 300
      GROUP BY tenant, k)
GROUP BY tenant;

-- Alerting: the stored partials of a partition's open tasks (a new owner's runaway-task state).
SELECT tenant, task_id, toUInt32(window_start), task_type, app, requests, input_tokens + output_tokens, cost_nanos,
       toUInt32(min_time), toUInt32(max_time), models, done, version
FROM ${db}.task_rollup FINAL
WHERE src_partition = 0 AND window_start >= toDateTime(1748736000)
  AND (tenant, task_id) IN (SELECT tenant, task_id FROM ${db}.task_rollup FINAL
                            WHERE src_partition = 0 AND window_start >= toDateTime(1748736000)
                            GROUP BY tenant, task_id HAVING max(done) = 0);

-- Alerting: each period-rule instance's latest state.
SELECT rule, group_key, argMax(state, changed_ms), argMax(idempotency_key, changed_ms), argMax(seq, changed_ms),
       argMax(started_at, changed_ms), max(changed_at)
FROM ${db}.alerts WHERE owner = 'period/default' GROUP BY rule, group_key;
