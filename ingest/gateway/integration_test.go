package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/jevonsdev/jevons/aggregate"
	"github.com/jevonsdev/jevons/ingest/gateway"
	"github.com/jevonsdev/jevons/internal/itest"
	"github.com/jevonsdev/jevons/internal/topics"
	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/sink"
)

// stack is a gateway on the real broker, and optionally an aggregator
// writing to a database of its own on the real ClickHouse.
type stack struct {
	t         *testing.T
	kafka, ch string
	topic, db string
	keysFile  string
	keys      map[string]string // tenant -> secret
	gw        *gateway.Gateway
	prod      *gateway.KafkaProducer
	conn      driver.Conn
	wrap      func(gateway.Producer) gateway.Producer
	cancelGW  context.CancelFunc
	gwDone    chan error
}

func newStack(t *testing.T, withAggregator bool, tune func(*gateway.Config)) *stack {
	t.Helper()
	return (&stack{t: t}).init(withAggregator, tune)
}

func (s *stack) init(withAggregator bool, tune func(*gateway.Config)) *stack {
	t := s.t
	t.Helper()
	s.kafka, s.keys = itest.Kafka(t), map[string]string{}
	name := fmt.Sprintf("gw_%s_%d", strings.ToLower(strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())), time.Now().UnixNano()%1e9)
	s.topic, s.db = "jevons."+name, name
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := topics.Ensure(ctx, nil, []string{s.kafka}, s.topic, 4, 1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = (&kafka.Client{Addr: kafka.TCP(s.kafka)}).DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{s.topic, s.topic + ".dlq"}})
	})
	s.keysFile = filepath.Join(t.TempDir(), "keys.json")
	var kf gateway.KeysFile
	for _, tenant := range []string{"acme", "globex"} {
		secret, k, err := gateway.NewKey(tenant, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		s.keys[tenant] = secret
		kf.Keys = append(kf.Keys, k)
	}
	if err := gateway.WriteKeysFile(s.keysFile, kf); err != nil {
		t.Fatal(err)
	}
	s.startGateway(tune)
	if withAggregator {
		s.startAggregator()
	}
	return s
}

func (s *stack) startGateway(tune func(*gateway.Config)) {
	s.t.Helper()
	kcfg := gateway.DefaultKafkaConfig()
	kcfg.Brokers, kcfg.Topic = []string{s.kafka}, s.topic
	prod, err := gateway.NewKafkaProducer(kcfg, zaptest.NewLogger(s.t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		s.t.Fatal(err)
	}
	s.prod = prod
	cfg := gateway.DefaultConfig()
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.KeysFile = "127.0.0.1:0", "127.0.0.1:0", s.keysFile
	cfg.RetryAfter, cfg.ProduceTimeout = time.Second, 5*time.Second
	if tune != nil {
		tune(&cfg)
	}
	var p gateway.Producer = prod
	if s.wrap != nil {
		p = s.wrap(prod)
	}
	if s.gw, err = gateway.New(cfg, p, zaptest.NewLogger(s.t, zaptest.Level(zap.WarnLevel))); err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancelGW, s.gwDone = cancel, make(chan error, 1)
	go func() { s.gwDone <- s.gw.Run(ctx) }()
	s.t.Cleanup(s.stopGateway)
}

func (s *stack) stopGateway() {
	if s.cancelGW == nil {
		return
	}
	s.cancelGW()
	s.cancelGW = nil
	if err := <-s.gwDone; err != nil {
		s.t.Errorf("gateway run: %v", err)
	}
	_ = s.prod.Close()
}

func (s *stack) startAggregator() {
	s.t.Helper()
	s.ch = itest.ClickHouse(s.t)
	cfg := aggregate.DefaultConfig()
	cfg.Brokers, cfg.Topic, cfg.Group = []string{s.kafka}, s.topic, s.db
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = s.ch, s.db
	cfg.FlushInterval, cfg.IdleFlush, cfg.SessionTimeout, cfg.MemoryLimit = 500*time.Millisecond, time.Second, 6*time.Second, 0
	agg, err := aggregate.New(cfg, zap.NewNop())
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agg.Run(ctx) }()
	ccfg := sink.DefaultConfig()
	ccfg.Addr = s.ch
	conn, err := sink.Open(context.Background(), ccfg)
	if err != nil {
		s.t.Fatal(err)
	}
	s.conn = conn
	s.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			s.t.Errorf("aggregator run: %v", err)
		}
		if !s.t.Failed() {
			_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+s.db)
		}
		conn.Close()
	})
}

// post sends body to the gateway's HTTP port with tenant's key.
func (s *stack) post(tenant, path, contentType string, body []byte, hdr ...string) (*http.Response, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+s.gw.HTTPAddr()+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+s.keys[tenant])
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp, b.Bytes()
}

// expected is what the usage view must show per (tenant, model).
type expected map[[2]string]*totals

type totals struct {
	Requests                                                   uint64
	Input, Output, CacheRead, CacheWrite, CacheWrite1h, Reason uint64
	Cost                                                       int64
}

var catalog = pricing.MustDefault()

// add counts one event at the price `jevons prices cost` gives its tokens.
func (e expected) add(t *testing.T, ev schemas.Event) {
	t.Helper()
	u := pricing.Usage{Input: ev.Usage.InputTokens, Output: ev.Usage.OutputTokens, CacheRead: ev.Usage.CacheReadTokens,
		CacheWrite: ev.Usage.CacheWriteTokens, CacheWrite1h: ev.Usage.CacheWrite1hTokens, Reasoning: ev.Usage.ReasoningTokens}
	r, err := catalog.CostAt(u, ev.Provider, ev.Model, ev.Time)
	if err != nil || !r.Priced {
		t.Fatalf("price %s %s: priced=%v %v", ev.Provider, ev.Model, r.Priced, err)
	}
	k := [2]string{ev.Tenant, ev.Model}
	if e[k] == nil {
		e[k] = &totals{}
	}
	x := e[k]
	x.Requests++
	x.Input += uint64(u.Input)
	x.Output += uint64(u.Output)
	x.CacheRead += uint64(u.CacheRead)
	x.CacheWrite += uint64(u.CacheWrite)
	x.CacheWrite1h += uint64(u.CacheWrite1h)
	x.Reason += uint64(u.Reasoning)
	x.Cost += r.CostNanos
}

// waitUsage polls the usage view until it equals want exactly.
func (s *stack) waitUsage(want expected, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	var got expected
	for time.Now().Before(deadline) {
		got = s.usage()
		if equalTotals(got, want) {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	var b strings.Builder
	for k, v := range want {
		fmt.Fprintf(&b, "  want %v %+v\n", k, *v)
	}
	for k, v := range got {
		fmt.Fprintf(&b, "  got  %v %+v\n", k, *v)
	}
	s.t.Fatalf("usage view never matched:\n%s", b.String())
}

func (s *stack) usage() expected {
	rows, err := s.conn.Query(context.Background(), `SELECT tenant, model, sum(requests), sum(input_tokens), sum(output_tokens),
		sum(cache_read_tokens), sum(cache_write_tokens), sum(cache_write_1h_tokens), sum(reasoning_tokens), sum(cost_nanos)
		FROM `+s.db+`.usage GROUP BY tenant, model`)
	if err != nil {
		return nil // the aggregator may not have migrated yet
	}
	defer rows.Close()
	out := expected{}
	for rows.Next() {
		var tenant, model string
		x := &totals{}
		if err := rows.Scan(&tenant, &model, &x.Requests, &x.Input, &x.Output, &x.CacheRead, &x.CacheWrite, &x.CacheWrite1h, &x.Reason, &x.Cost); err != nil {
			s.t.Fatal(err)
		}
		out[[2]string{tenant, model}] = x
	}
	return out
}

func equalTotals(a, b expected) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || *w != *v {
			return false
		}
	}
	return true
}

// readTopic returns every event on the topic, by event id, with its count.
func (s *stack) readTopic() map[string]int {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", s.kafka)
	if err != nil {
		s.t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(s.topic)
	conn.Close()
	if err != nil {
		s.t.Fatal(err)
	}
	seen := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{s.kafka}, Topic: s.topic, Partition: p, MaxWait: 200 * time.Millisecond})
			defer r.Close()
			last, err := r.ReadLag(ctx)
			if err != nil || last == 0 {
				return
			}
			var dec schemas.Decoder
			for i := int64(0); i < last; i++ {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				if bytes.Contains(m.Value, []byte("secret")) {
					s.t.Errorf("prompt content reached the topic: %s", m.Value)
				}
				var ev schemas.Event
				if err := dec.Decode(m.Value, &ev); err != nil {
					s.t.Errorf("invalid event on the topic: %v", err)
					continue
				}
				mu.Lock()
				seen[ev.EventID]++
				mu.Unlock()
			}
		}(p.ID)
	}
	wg.Wait()
	return seen
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "providers", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeEvent(t *testing.T, raw json.RawMessage) schemas.Event {
	t.Helper()
	var d schemas.Decoder
	var ev schemas.Event
	if err := d.Decode(raw, &ev); err != nil {
		t.Fatalf("event %s: %v", raw, err)
	}
	return ev
}
