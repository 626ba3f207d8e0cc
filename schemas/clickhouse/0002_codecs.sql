-- jevons:min-version 20.3
-- Column compression codecs for the rollup counters; servers before 20.3
-- lack CODEC and keep the default compression.
ALTER TABLE ${db}.usage_rollup
    MODIFY COLUMN requests UInt64 CODEC(T64, LZ4),
    MODIFY COLUMN input_tokens UInt64 CODEC(T64, LZ4),
    MODIFY COLUMN output_tokens UInt64 CODEC(T64, LZ4),
    MODIFY COLUMN cost_nanos Int64 CODEC(T64, LZ4),
    MODIFY COLUMN ref_cost_nanos Int64 CODEC(T64, LZ4),
    MODIFY COLUMN version UInt64 CODEC(Delta, LZ4),
    MODIFY COLUMN written_at DateTime('UTC') CODEC(DoubleDelta, LZ4);

ALTER TABLE ${db}.task_rollup
    MODIFY COLUMN requests UInt64 CODEC(T64, LZ4),
    MODIFY COLUMN cost_nanos Int64 CODEC(T64, LZ4),
    MODIFY COLUMN ref_cost_nanos Int64 CODEC(T64, LZ4),
    MODIFY COLUMN version UInt64 CODEC(Delta, LZ4),
    MODIFY COLUMN written_at DateTime('UTC') CODEC(DoubleDelta, LZ4);
