package schemas

import "embed"

// ClickHouse holds the migrations (clickhouse/NNNN_name.sql) and the
// documented queries (clickhouse/queries.sql).
//
//go:embed clickhouse/*.sql
var ClickHouse embed.FS
