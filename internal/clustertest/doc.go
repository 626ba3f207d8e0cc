// Package clustertest holds the tests that need the local cluster
// (deploy/local/cluster: ZooKeeper, ClickHouse 2 shards x 2 replicas, three
// KRaft brokers): the clustered schema, and the aggregator's exactness under
// faults of brokers, replicas, shards and aggregators. They skip without the
// JEVONS_TEST_CLUSTER_* env and fail when skipped under CI=true; .ci/run
// runs them in a step of their own, with the cluster up only for that step.
// The package has no code outside its tests.
package clustertest
