-- The economics in SQL (README "The economics"): each query runs in CI on
-- ClickHouse 18.16 and on a current server (chDB). ${db} is the Jevons
-- database. The tables are read with FINAL and the filters inside the
-- subquery, because 18.16 does not push a WHERE into a view: these stay fast
-- over a year. Whole UTC months read the month states
-- (usage_monthly_rollup); for ranges that start or end inside a month, or
-- per day or week, read usage_daily_rollup the same way (same columns).
-- Change the dates and the slice filters (tenant, app, task_type,
-- provider, model) to taste; money is nano-dollars / 1e9 = USD.

-- Per month for a slice: requests, tokens, cost, reference cost, unit cost
-- u = C/Q (USD per million priced tokens), price index pi = C/R, mix
-- intensity m = R/Q; unpriced usage apart, never in u.
SELECT month, requests, tokens, priced_tokens,
       cost / 1e9 AS cost_usd, ref / 1e9 AS ref_cost_usd,
       if(priced_tokens = 0, NULL, cost / 1e3 / priced_tokens) AS unit_cost_usd_per_mtok,
       if(ref = 0, NULL, cost / ref) AS price_index,
       if(priced_tokens = 0, NULL, ref / 1e3 / priced_tokens) AS mix_usd_per_mtok,
       unpriced, unpriced_tokens
FROM (
    SELECT toStartOfMonth(window_start) AS month,
           sum(requests) AS requests,
           sum(input_tokens + output_tokens) AS tokens,
           sumIf(input_tokens + output_tokens, unpriced_requests = 0) AS priced_tokens,
           sum(cost_nanos) AS cost, sum(ref_cost_nanos) AS ref,
           sum(unpriced_requests) AS unpriced,
           sumIf(input_tokens + output_tokens, unpriced_requests > 0) AS unpriced_tokens
    FROM (
        SELECT * FROM ${db}.usage_monthly_rollup FINAL
        WHERE window_start >= toDateTime('2026-01-01 00:00:00', 'UTC')
          AND window_start < toDateTime('2026-07-01 00:00:00', 'UTC')
          -- AND tenant = 'acme' AND model = 'gpt-4o'
    )
    GROUP BY month
)
ORDER BY month;

-- Period over period (January against June): the factors, the exact LMDI
-- split of the change in spend (volume + mix + price = C1 - C0), the
-- elasticity proxy and the verdict. NULL where a period has no priced usage.
SELECT q0, q1, c0 / 1e9 AS cost0_usd, c1 / 1e9 AS cost1_usd,
       if(q0 = 0, NULL, q1 / q0) AS usage_factor,
       if(c0 = 0, NULL, c1 / c0) AS spend_factor,
       if(q0 = 0 OR q1 = 0 OR c0 = 0, NULL, (c1 / q1) / (c0 / q0)) AS unit_cost_factor,
       if(r0 = 0 OR r1 = 0 OR c0 = 0, NULL, (c1 / r1) / (c0 / r0)) AS price_factor,
       if(q0 = 0 OR q1 = 0 OR r0 = 0, NULL, (r1 / q1) / (r0 / q0)) AS mix_factor,
       if(c0 = c1, c0, (c1 - c0) / (log(c1) - log(c0))) AS logmean,
       if(c0 = 0 OR c1 = 0 OR q0 = 0 OR q1 = 0, NULL, logmean * log(q1 / q0) / 1e9) AS volume_usd,
       if(c0 = 0 OR c1 = 0 OR r0 = 0 OR r1 = 0, NULL, logmean * log((r1 / q1) / (r0 / q0)) / 1e9) AS mix_usd,
       if(c0 = 0 OR c1 = 0 OR r0 = 0 OR r1 = 0, NULL, logmean * log((c1 / r1) / (c0 / r0)) / 1e9) AS price_usd,
       if(q0 = 0 OR q1 = 0 OR c0 = 0 OR c1 = 0 OR (c1 / q1) / (c0 / q0) >= 0.99, NULL,
          -log(q1 / q0) / log((c1 / q1) / (c0 / q0))) AS elasticity,
       multiIf(q0 = 0 AND q1 = 0, 'no change', q0 = 0, 'new usage', q1 = 0, 'usage stopped',
               c0 = 0 AND c1 = 0, 'no change', c0 = 0, 'unit cost rising',
               abs((c1 / q1) / (c0 / q0) - 1) <= 0.01, 'no change',
               (c1 / q1) / (c0 / q0) > 1, 'unit cost rising',
               c1 > c0, 'usage growth outpaces unit-cost decline',
               'unit-cost decline outpaces usage growth') AS verdict
FROM (
    SELECT toFloat64(sumIf(input_tokens + output_tokens, p = 0 AND unpriced_requests = 0)) AS q0,
           toFloat64(sumIf(input_tokens + output_tokens, p = 1 AND unpriced_requests = 0)) AS q1,
           toFloat64(sumIf(cost_nanos, p = 0)) AS c0, toFloat64(sumIf(cost_nanos, p = 1)) AS c1,
           toFloat64(sumIf(ref_cost_nanos, p = 0)) AS r0, toFloat64(sumIf(ref_cost_nanos, p = 1)) AS r1
    FROM (
        SELECT *, if(window_start < toDateTime('2026-02-01 00:00:00', 'UTC'), 0, 1) AS p
        FROM ${db}.usage_monthly_rollup FINAL
        WHERE (window_start >= toDateTime('2026-01-01 00:00:00', 'UTC') AND window_start < toDateTime('2026-02-01 00:00:00', 'UTC'))
           OR (window_start >= toDateTime('2026-06-01 00:00:00', 'UTC') AND window_start < toDateTime('2026-07-01 00:00:00', 'UTC'))
    )
);

-- Tasks with a request in each month (distinct: a task spanning months
-- counts in each): the union of the days' task sets (task_days). Filter by
-- tenant, app, task_type or model (a task used the model) inside.
SELECT month, tasks FROM (
    SELECT toStartOfMonth(day) AS month, uniqExactMerge(tasks) AS tasks
    FROM ${db}.task_days
    WHERE day >= toDate('2026-01-01') AND day < toDate('2026-07-01')
    GROUP BY month
) ORDER BY month;

-- Per task type and month: tasks that ended in the month, whole totals per
-- task (windows up to 7 days before the range), mean and percentiles of
-- tokens and cost per task; running tasks apart.
SELECT toStartOfMonth(last_seen) AS month, task_type,
       countIf(done = 1) AS tasks_ended, countIf(done = 0) AS tasks_running,
       avgIf(tokens, done = 1) AS mean_tokens_per_task,
       quantileExactIf(0.5)(tokens, done = 1) AS p50_tokens_per_task,
       quantileExactIf(0.95)(tokens, done = 1) AS p95_tokens_per_task,
       avgIf(requests, done = 1) AS mean_requests_per_task,
       avgIf(cost, done = 1) / 1e9 AS mean_cost_usd_per_task,
       quantileExactIf(0.95)(cost, done = 1) / 1e9 AS p95_cost_usd_per_task
FROM (
    SELECT tenant, task_id, argMin(task_type, min_time) AS task_type, max(max_time) AS last_seen,
           sum(requests) AS requests, sum(input_tokens + output_tokens) AS tokens,
           sum(cost_nanos) AS cost, max(done) AS done
    FROM ${db}.task_rollup FINAL
    WHERE window_start >= toDateTime('2025-12-25 00:00:00', 'UTC') AND window_start < toDateTime('2026-07-01 00:00:00', 'UTC')
    GROUP BY tenant, task_id
)
WHERE last_seen >= toDateTime('2026-01-01 00:00:00', 'UTC')
GROUP BY month, task_type
ORDER BY month, task_type;

-- Models without a price in the range: counted, shown apart.
SELECT provider, model, sum(unpriced_requests) AS unpriced, sum(input_tokens + output_tokens) AS tokens
FROM (
    SELECT * FROM ${db}.usage_monthly_rollup FINAL
    WHERE window_start >= toDateTime('2026-01-01 00:00:00', 'UTC') AND window_start < toDateTime('2026-07-01 00:00:00', 'UTC')
      AND unpriced_requests > 0
)
GROUP BY provider, model
ORDER BY unpriced DESC;

-- The last 30 days from the economics_daily view (short ranges only on 18.16).
SELECT day, sum(priced_tokens) AS priced_tokens, sum(cost_nanos) / 1e9 AS cost_usd,
       if(priced_tokens = 0, NULL, sum(cost_nanos) / 1e3 / priced_tokens) AS unit_cost_usd_per_mtok,
       sum(unpriced_requests) AS unpriced_requests
FROM ${db}.economics_daily
WHERE day >= today() - 30
GROUP BY day
ORDER BY day;
