-- Analytics: the economics per day and slice, and the import ledger.
--
-- economics_daily reads the day-window states (usage_daily_rollup FINAL)
-- and splits each day and slice into priced usage (what unit cost, price
-- index and mix are computed from) and unpriced usage, shown apart. A row
-- with any unpriced request counts on the unpriced side whole: rows are
-- keyed by model, and a model is either priced or not. On ClickHouse 18.16
-- a WHERE on a view is not pushed into it: for long ranges run the
-- documented queries (queries_analytics.sql), which filter the table inside.

CREATE VIEW IF NOT EXISTS ${db}.economics_daily AS
SELECT
    day, tenant, app, task_type, provider, model,
    sum(n)                          AS requests,
    sum(tok)                        AS tokens,
    sumIf(tok, unpriced = 0)        AS priced_tokens,
    sum(cost)                       AS cost_nanos,
    sum(ref)                        AS ref_cost_nanos,
    sum(unpriced)                   AS unpriced_requests,
    sumIf(tok, unpriced > 0)        AS unpriced_tokens,
    sum(inp)                        AS input_tokens,
    sum(outp)                       AS output_tokens,
    sum(cread)                      AS cache_read_tokens,
    sum(cwrite)                     AS cache_write_tokens,
    sum(cwrite1h)                   AS cache_write_1h_tokens,
    sum(reason)                     AS reasoning_tokens
FROM (
    SELECT toDate(window_start) AS day, tenant, app, task_type, provider, model,
           requests AS n, input_tokens + output_tokens AS tok, cost_nanos AS cost, ref_cost_nanos AS ref,
           unpriced_requests AS unpriced, input_tokens AS inp, output_tokens AS outp, cache_read_tokens AS cread,
           cache_write_tokens AS cwrite, cache_write_1h_tokens AS cwrite1h, reasoning_tokens AS reason
    FROM ${db}.usage_daily_rollup FINAL
)
GROUP BY day, tenant, app, task_type, provider, model;

-- Events that `jevons import` has sent (tenant/event_id), so importing the
-- same history twice sends nothing again.
CREATE TABLE IF NOT EXISTS ${db}.imported_events (
    key         String,
    source      String,
    imported_at DateTime('UTC')
) ENGINE = ReplacingMergeTree
ORDER BY key;
