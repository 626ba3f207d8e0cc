package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/jevonsdev/jevons/ingest/gateway"
)

// runBenchIngest measures the gateway over HTTP on the real broker: events/s
// accepted (2xx, so acknowledged by Kafka) with batches of 100 and of 1 from
// concurrent closed-loop clients, then latency at half the batch-100 rate.
func runBenchIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench ingest", stderr)
	fs.Usage = defaultUsage(fs)
	brokers := brokersFlag(fs)
	duration := fs.Duration("duration", 10*time.Second, "length of each phase")
	conc := fs.Int("concurrency", 32, "concurrent HTTP clients in the closed-loop phases")
	partitions := fs.Int("partitions", 12, "partitions of the fresh topic")
	batchTimeout := fs.Duration("batch-timeout", gateway.DefaultKafkaConfig().BatchTimeout, "the producer's batch timeout")
	batchSize := fs.Int("batch-size", gateway.DefaultKafkaConfig().BatchSize, "the producer's batch size per partition")
	keep := fs.Bool("keep", false, "keep the bench topic")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the gateway and clients (one process) to this file")
	noKafka := fs.Bool("no-kafka", false, "diagnosis only: drop events instead of producing them, to measure the HTTP and decoding path alone")
	kSec := kafkaSecurityFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ksecCfg, err := kSec.config()
	if err != nil {
		return err
	}
	sec, err := ksecCfg.Load()
	if err != nil {
		return flagError(err)
	}
	log, err := newLogger("warn", stderr)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "jevons-bench-ingest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	secret, key, err := gateway.NewKey("bench", time.Now())
	if err != nil {
		return err
	}
	keysFile := filepath.Join(dir, "keys.json")
	if err := gateway.WriteKeysFile(keysFile, gateway.KeysFile{Keys: []gateway.Key{key}}); err != nil {
		return err
	}
	kcfg := gateway.DefaultKafkaConfig()
	kcfg.Brokers, kcfg.Topic, kcfg.Partitions, kcfg.BatchTimeout, kcfg.BatchSize = splitList(*brokers), fmt.Sprintf("jevons.bench_ingest_%d", time.Now().UnixNano()), *partitions, *batchTimeout, *batchSize
	kcfg.Security = ksecCfg
	prod, err := gateway.NewKafkaProducer(kcfg, log)
	if err != nil {
		return err
	}
	defer prod.Close()
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = prod.EnsureTopic(tctx)
	cancel()
	if err != nil {
		return err
	}
	if !*keep {
		defer func() {
			client, done := sec.Client(kcfg.Brokers, 10*time.Second)
			defer done()
			_, _ = client.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{kcfg.Topic}})
		}()
	}
	cfg := gateway.DefaultConfig()
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.KeysFile = "127.0.0.1:0", "", keysFile
	cfg.RatePerSec, cfg.RateBurst, cfg.MaxCardinality = 1e9, 1e9, 1_000_000
	var p gateway.Producer = prod
	if *noKafka {
		p = gateway.ProducerFunc(func(context.Context, []kafka.Message) error { return nil })
	}
	gw, err := gateway.New(cfg, p, log)
	if err != nil {
		return err
	}
	gctx, stop := context.WithCancel(ctx)
	var eg errgroup.Group
	eg.Go(func() error { return gw.Run(gctx) })
	defer func() { stop(); _ = eg.Wait() }()

	if *cpuProfile != "" {
		pf, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	b := &ingestBench{url: "http://" + gw.HTTPAddr() + "/v1/events", auth: "Bearer " + secret,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4 * *conc, MaxConnsPerHost: 4 * *conc}}}
	b.run(ctx, 100, *conc, 0, 2*time.Second) // warm-up: connections, metadata
	fmt.Fprintf(stderr, "bench ingest: batches of 100, %d clients, %v\n", *conc, *duration)
	p100 := b.run(ctx, 100, *conc, 0, *duration)
	fmt.Fprintf(stderr, "bench ingest: batches of 1, %d clients, %v\n", *conc, *duration)
	p1 := b.run(ctx, 1, *conc, 0, *duration)
	half := p100.EventsPerSec / 2
	fmt.Fprintf(stderr, "bench ingest: batches of 100 paced at %.0f events/s\n", half)
	paced := b.run(ctx, 100, 4**conc, half, *duration)
	return json.NewEncoder(stdout).Encode(map[string]any{
		"bench": "ingest", "no_kafka": *noKafka, "topic_partitions": *partitions, "batch_timeout_ms": batchTimeout.Milliseconds(), "batch_size": *batchSize, "concurrency": *conc, "phase_seconds": duration.Seconds(),
		"batch100": p100, "batch1": p1, "batch100_at_half_rate": paced,
	})
}

type ingestBench struct {
	url, auth string
	client    *http.Client
	seq       atomic.Int64
}

type phase struct {
	EventsPerSec   float64 `json:"events_per_sec"`
	Requests       int     `json:"requests"`
	Failed         int     `json:"failed"`
	TargetPerSec   float64 `json:"target_events_per_sec,omitempty"`
	P50Ms          float64 `json:"p50_ms"`
	P99Ms          float64 `json:"p99_ms"`
	MaxMs          float64 `json:"max_ms"`
	EventsAccepted int64   `json:"events_accepted"`
}

// body makes n events with fresh ids, NDJSON.
func (b *ingestBench) body(n int, at string) []byte {
	buf := make([]byte, 0, n*260)
	for range n {
		id := b.seq.Add(1)
		buf = append(buf, `{"event_id":"bench-`...)
		buf = strconv.AppendInt(buf, id, 10)
		buf = append(buf, `","time":"`...)
		buf = append(buf, at...)
		buf = append(buf, `","task_id":"task-`...)
		buf = strconv.AppendInt(buf, id%5000, 10)
		buf = append(buf, `","app":"bench","provider":"openai","model":"gpt-4o","usage":{"input_tokens":1200,"output_tokens":300,"cache_read_tokens":1000}}`+"\n"...)
	}
	return buf
}

// run sends batches of n for d: closed loop with conc clients when rate is
// 0, else paced to rate events/s.
func (b *ingestBench) run(ctx context.Context, n, conc int, rate float64, d time.Duration) phase {
	at := time.Now().UTC().Format(time.RFC3339)
	var mu sync.Mutex
	var lat []time.Duration
	var ok, failed int
	start := time.Now()
	end := start.Add(d)
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(n) * float64(conc) / rate)
	}
	var wg sync.WaitGroup
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := start.Add(time.Duration(w) * interval / time.Duration(conc))
			for ctx.Err() == nil {
				if rate > 0 {
					if next.After(end) {
						return
					}
					if time.Until(next) > 0 {
						time.Sleep(time.Until(next))
					}
					next = next.Add(interval)
				}
				if time.Now().After(end) {
					return
				}
				body := b.body(n, at)
				t0 := time.Now()
				good := b.post(ctx, body)
				el := time.Since(t0)
				mu.Lock()
				lat = append(lat, el)
				if good {
					ok++
				} else {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	return phase{EventsPerSec: float64(ok*n) / secs, Requests: ok + failed, Failed: failed, TargetPerSec: rate,
		P50Ms: q(0.50), P99Ms: q(0.99), MaxMs: q(1), EventsAccepted: int64(ok * n)}
}

func (b *ingestBench) post(ctx context.Context, body []byte) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", b.auth)
	resp, err := b.client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
