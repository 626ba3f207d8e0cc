// Package schemas owns Jevons' data contracts: the token event (schema v1:
// Go type, strict fast decoder, encoder, JSON Schema) and the ClickHouse DDL
// that migrations apply (clickhouse/*.sql, embedded). It holds no I/O: it
// must not talk to Kafka or ClickHouse.
package schemas
