package alert

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are alerting's Prometheus series, shared by the stream evaluator,
// the period evaluator and the dispatcher of one process.
type Metrics struct {
	Evaluations *prometheus.CounterVec   // rule
	EvalSeconds *prometheus.HistogramVec // rule
	Instances   *prometheus.GaugeVec     // rule, state
	Sent        *prometheus.CounterVec   // channel
	Failed      *prometheus.CounterVec   // channel
	Retried     *prometheus.CounterVec   // channel
	Dropped     prometheus.Counter
	Deduped     prometheus.Counter
	Latency     prometheus.Histogram
}

// NewMetrics makes the series and registers them on reg unless it is nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Evaluations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jevons_alert_rule_evaluations_total",
			Help: "Rule evaluations: per period-rule query, per observed event for runaway rules."}, []string{"rule"}),
		EvalSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "jevons_alert_rule_evaluation_seconds",
			Help: "Time to evaluate a period rule (its ClickHouse query included).", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, []string{"rule"}),
		Instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "jevons_alert_instances",
			Help: "Alert instances by rule and state (pending, firing)."}, []string{"rule", "state"}),
		Sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jevons_alert_notifications_sent_total",
			Help: "Notifications delivered, by channel."}, []string{"channel"}),
		Failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jevons_alert_notifications_failed_total",
			Help: "Notifications given up on (4xx, or retries exhausted), by channel."}, []string{"channel"}),
		Retried: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jevons_alert_notifications_retried_total",
			Help: "Delivery attempts retried after a 5xx, timeout or connection error, by channel."}, []string{"channel"}),
		Dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "jevons_alert_notifications_dropped_total",
			Help: "Notifications dropped because the delivery queue was full."}),
		Deduped: prometheus.NewCounter(prometheus.CounterOpts{Name: "jevons_alert_notifications_deduplicated_total",
			Help: "Notifications not sent because the outbox shows them delivered (a replay or a restart)."}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "jevons_alert_delivery_seconds",
			Help: "From the decision to notify to the last channel's answer.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
	}
	if reg != nil {
		Register(reg, m)
	}
	return m
}

// Register adds m's series to reg.
func Register(reg prometheus.Registerer, m *Metrics) {
	reg.MustRegister(m.Evaluations, m.EvalSeconds, m.Instances, m.Sent, m.Failed, m.Retried, m.Dropped, m.Deduped, m.Latency)
}
