-- The task figures of a report period (tasks per key, per-task statistics),
-- kept once computed: `jevons report` reads them back while the table parts
-- they were computed from are the same. key digests what was asked (the
-- figure, the slice, the period, the look-back); parts digests the active
-- parts (name, rows, modification time) of the monthly partitions the
-- period reads. Parts are immutable: an insert, a merge or a mutation
-- changes the set, so a row whose parts match holds exactly what a new
-- computation would return. Rows whose parts no longer match are never read
-- again; drop old months with ALTER TABLE report_cache DROP PARTITION.
CREATE TABLE IF NOT EXISTS ${db}.report_cache (
    key         String,
    parts       String,
    payload     String,
    computed_at DateTime('UTC')
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(computed_at)
ORDER BY (key, parts);
