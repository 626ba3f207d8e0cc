package main

import (
	"github.com/jevonsdev/jevons/sink"
)

// clusterFlag adds --cluster: the ClickHouse cluster that migrations create
// the schema on (replicated storage, Distributed tables) and whose session
// settings every connection uses; empty for a single server.
func clusterFlag(fs interface {
	StringVar(*string, string, string, string)
}, cfg *sink.Config) {
	fs.StringVar(&cfg.Cluster, "cluster", envOr("JEVONS_CLICKHOUSE_CLUSTER", cfg.Cluster),
		"ClickHouse cluster name (remote_servers) to create replicated, sharded tables on; empty: one server (env JEVONS_CLICKHOUSE_CLUSTER)")
}
