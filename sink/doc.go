// Package sink owns everything that writes to ClickHouse: connections that
// work with 18.16 and current servers alike, the migrations runner, and the
// rollup writer with its retries and idempotent inserts. On a cluster
// (Config.Cluster) the runner derives replicated storage and Distributed
// tables from the same migration files (cluster.go) and connections use
// ClusterSettings; readers and writers name the same tables either way. It
// must not decide what a rollup contains: that is the aggregate package's
// job.
package sink
