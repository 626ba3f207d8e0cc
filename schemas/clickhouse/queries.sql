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
