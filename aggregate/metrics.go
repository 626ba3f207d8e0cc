package aggregate

import (
	"regexp"
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
	dedupBytes *prometheus.GaugeVec
	flushes    prometheus.Counter

	dedupEarly     prometheus.Counter
	partitions     prometheus.Gauge
	partChanges    prometheus.Counter
	catalog        *prometheus.GaugeVec
	catalogChanges prometheus.Counter
	retentionLost  *prometheus.CounterVec
	overflows      prometheus.Counter
	clockAllowance prometheus.Gauge
	clock          *prometheus.GaugeVec
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
		dedupBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jevons_aggregate_dedup_bytes", Help: "Bytes the duplicate set's tables hold (their allocations), by partition.",
		}, []string{"partition"}),
		flushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jevons_aggregate_flushes_total", Help: "Partition flushes made durable.",
		}),
		dedupEarly: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jevons_aggregate_dedup_early_evictions_total",
			Help: "Duplicate-set entries dropped before their horizon ended because a partition held dedup-max-entries (a backfill or a stalled clock): a retry of such an event counts twice.",
		}),
		partitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jevons_aggregate_input_partitions", Help: "Partitions of the input topic at the last consumer group generation.",
		}),
		partChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jevons_aggregate_partition_count_changes_total",
			Help: "Changes of the input topic's partition count seen: for a dedup horizon afterwards, a retry of an event sent before the change can land in another partition and count twice.",
		}),
		catalog: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jevons_aggregate_catalog_info",
			Help: "1 for the price catalog this process prices with (sha256 prefix of the default catalog and overlay contents); replicas with different fingerprints write different costs.",
		}, []string{"fingerprint"}),
		catalogChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jevons_aggregate_catalog_changes_total",
			Help: "Partitions taken over whose checkpoint was priced with another price catalog: from the checkpoint's flushed_through on, their costs are priced with this process's catalog (logged with both fingerprints and the offset).",
		}),
		retentionLost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jevons_aggregate_retention_lost_messages_total",
			Help: "Messages a partition's restart needed that retention had deleted: kind=uncounted (at or above flushed_through: the totals miss them) or kind=replay (only the duplicate set missed them: their retries can count twice).",
		}, []string{"kind"}),
		overflows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jevons_aggregate_overflow_total",
			Help: "Late corrections left out of a stored state because a sum would pass its column's maximum (events that would overflow an in-memory state are dead-lettered instead).",
		}),
		clockAllowance: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jevons_aggregate_producer_clock_allowance_seconds",
			Help: "How far ahead of the broker's clock the input topic lets a producer's timestamps run (message.timestamp.after.max.ms); -1: unbounded, a skewed producer can move the event-time clock.",
		}),
		clock: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jevons_aggregate_event_clock_seconds", Help: "A partition's event-time clock (newest event time counted), unix seconds.",
		}, []string{"partition"}),
	}
	m.reg.MustRegister(m.clockAllowance, m.clock, m.dedupEarly, m.partitions, m.partChanges, m.catalog, m.catalogChanges, m.retentionLost, m.overflows)
	m.reg.MustRegister(m.outcomes, m.lag, m.flushTime, m.rows, m.chErrors, m.openStates, m.dedupSize, m.dedupBytes, m.flushes,
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(gcCPU)), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, n := range outcomeNames {
		m.outcomes.WithLabelValues(n)
	}
	return m
}

// gcCPU adds the Go runtime's estimate of the CPU its collector spends
// (go_cpu_classes_gc_*_cpu_seconds_total; total: marking, assists and idle
// marking) to the default Go metrics, with the runtime's total and idle
// CPU (go_cpu_classes_total_cpu_seconds_total, go_cpu_classes_idle_...) to
// put it against: the part of the aggregator's CPU that memory buys back
// (--memory-limit-mib).
var gcCPU = collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/cpu/classes/(gc/|total:|idle:)`)}

// published is what a partition has moved to the registry so far.
type published struct {
	counts     [numOutcomes]int64
	dedupEarly int64
	overflowed int64
}

// publish moves a partition's local counts and gauges to the registry.
func (m *metrics) publish(p *partition, pub *published) {
	for i, n := range p.counts {
		if d := n - pub.counts[i]; d > 0 {
			m.outcomes.WithLabelValues(outcomeNames[i]).Add(float64(d))
		}
	}
	pub.counts = p.counts
	if d := p.dedup.early - pub.dedupEarly; d > 0 {
		m.dedupEarly.Add(float64(d))
	}
	pub.dedupEarly = p.dedup.early
	over := p.overflowed
	for i := range p.usage {
		over += p.usage[i].overflowed
	}
	if d := over - pub.overflowed; d > 0 {
		m.overflows.Add(float64(d))
	}
	pub.overflowed = over
	id := strconv.Itoa(int(p.id))
	for i := range p.usage {
		m.openStates.WithLabelValues(p.usage[i].table, id).Set(float64(len(p.usage[i].states)))
	}
	m.openStates.WithLabelValues(sink.TaskTable, id).Set(float64(len(p.tasks)))
	m.dedupSize.WithLabelValues(id).Set(float64(p.dedup.len()))
	m.dedupBytes.WithLabelValues(id).Set(float64(p.dedup.bytes()))
	if p.maxTime != noTime {
		m.clock.WithLabelValues(id).Set(float64(p.maxTime) / 1000)
	}
}

func (m *metrics) forget(partition uint32) {
	id := strconv.Itoa(int(partition))
	m.lag.DeleteLabelValues(id)
	for _, t := range []string{sink.UsageTable, sink.UsageDailyTable, sink.UsageMonthlyTable, sink.TaskTable} {
		m.openStates.DeleteLabelValues(t, id)
	}
	m.dedupSize.DeleteLabelValues(id)
	m.dedupBytes.DeleteLabelValues(id)
	m.clock.DeleteLabelValues(id)
}

func (m *metrics) observeInsert(table string, rows int, _ time.Duration) {
	m.rows.WithLabelValues(table).Add(float64(rows))
}
