package aggregate

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/jevonsdev/jevons/sink"
)

// metrics are the aggregator's Prometheus series. Per-event counts are
// kept per partition and published in bulk, never per event.
type metrics struct {
	reg        *prometheus.Registry
	outcomes   *prometheus.CounterVec
	lag        *prometheus.GaugeVec
	flushTime  prometheus.Histogram
	rows       *prometheus.CounterVec
	chErrors   prometheus.Counter
	openStates *prometheus.GaugeVec
	dedupSize  *prometheus.GaugeVec
	flushes    prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jevons_aggregate_messages_total",
			Help: "Messages consumed, by outcome: aggregated, duplicate, late_corrected, dead_lettered, replayed (below the checkpoint).",
		}, []string{"outcome"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jevons_aggregate_consumer_lag", Help: "Messages behind the partition's high watermark.",
		}, []string{"partition"}),
		flushTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "jevons_aggregate_flush_seconds", Help: "Time to make one partition's flush durable.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jevons_aggregate_rows_written_total", Help: "Rows inserted into ClickHouse, by table.",
		}, []string{"table"}),
		chErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jevons_aggregate_clickhouse_errors_total", Help: "Failed ClickHouse insert attempts (retried).",
		}),
		openStates: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jevons_aggregate_open_windows", Help: "Window states held in memory, by table and partition.",
		}, []string{"table", "partition"}),
		dedupSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jevons_aggregate_dedup_entries", Help: "Entries in the duplicate set, by partition.",
		}, []string{"partition"}),
		flushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jevons_aggregate_flushes_total", Help: "Partition flushes made durable.",
		}),
	}
	m.reg.MustRegister(m.outcomes, m.lag, m.flushTime, m.rows, m.chErrors, m.openStates, m.dedupSize, m.flushes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, n := range outcomeNames {
		m.outcomes.WithLabelValues(n)
	}
	return m
}

// publish moves a partition's local counts and gauges to the registry.
func (m *metrics) publish(p *partition, published *[numOutcomes]int64) {
	for i, n := range p.counts {
		if d := n - published[i]; d > 0 {
			m.outcomes.WithLabelValues(outcomeNames[i]).Add(float64(d))
		}
	}
	*published = p.counts
	id := strconv.Itoa(int(p.id))
	for i := range p.usage {
		m.openStates.WithLabelValues(p.usage[i].table, id).Set(float64(len(p.usage[i].states)))
	}
	m.openStates.WithLabelValues(sink.TaskTable, id).Set(float64(len(p.tasks)))
	m.dedupSize.WithLabelValues(id).Set(float64(p.dedup.len()))
}

func (m *metrics) forget(partition uint32) {
	id := strconv.Itoa(int(partition))
	m.lag.DeleteLabelValues(id)
	for _, t := range []string{sink.UsageTable, sink.UsageDailyTable, sink.TaskTable} {
		m.openStates.DeleteLabelValues(t, id)
	}
	m.dedupSize.DeleteLabelValues(id)
}

func (m *metrics) observeInsert(table string, rows int, _ time.Duration) {
	m.rows.WithLabelValues(table).Add(float64(rows))
}
