// Package gateway is `jevons ingest`: the HTTP and OTLP/gRPC server that
// services not written in Go send usage to. It authenticates the tenant by
// API key (stored only as SHA-256 hashes, in a keys file reloaded without
// restart), decodes schema v1 events (JSON array or NDJSON), OTLP traces
// (protobuf or JSON over HTTP, protobuf over gRPC) and provider-native
// usage bodies, enforces limits (body size, events per request, per-tenant
// token-bucket rate, per-tenant daily cardinality of (app, task_type,
// model)), and produces the accepted events to Kafka.
//
// Durability: a request is answered 2xx only after Kafka acknowledged every
// event it accepted (acks=all, synchronous produce through Producer). When
// the produce fails the whole request is answered 503 with Retry-After and
// no event of it is reported accepted; some may still have reached Kafka,
// and the client's retry carries the same event ids with the same keys
// (tenant/task_id, murmur2), so the aggregator counts them once.
//
// The mappings themselves live in ingest/otlp and ingest/providers; this
// package must not price or aggregate.
package gateway
