package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec // endpoint, code
	events   *prometheus.CounterVec // endpoint, outcome
	produce  prometheus.Histogram   // seconds per produce call
	keys     *prometheus.CounterVec // reload outcome
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jevons_gateway_requests_total",
			Help: "Requests by endpoint and status code."}, []string{"endpoint", "code"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jevons_gateway_events_total",
			Help: "Events by endpoint and outcome: accepted, duplicate, rejected, capped (accepted under 'other'), unavailable, rate_limited, forbidden."},
			[]string{"endpoint", "outcome"}),
		produce: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "jevons_gateway_produce_seconds",
			Help: "Time from handing a request's events to Kafka to their acknowledgement.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		keys: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jevons_gateway_key_reloads_total",
			Help: "Keys file reloads by outcome."}, []string{"outcome"}),
	}
	m.reg.MustRegister(m.requests, m.events, m.produce, m.keys, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
