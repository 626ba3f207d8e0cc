package aggregate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/jevonsdev/jevons/internal/itest"
	"github.com/jevonsdev/jevons/internal/topics"
	"github.com/jevonsdev/jevons/pricing"
	"github.com/jevonsdev/jevons/schemas"
	"github.com/jevonsdev/jevons/sink"
)

// The fetcher reads keys and values through kafka-go's own record reader
// into one buffer per batch. Read both ways from the same fetches, every
// message is the one Batch.ReadMessage returns: offsets, times, keys (null
// too), values (empty too), headers and high watermarks, over record
// batches of every codec, from an offset inside a compressed record batch,
// and with fetches that MaxBytes limits to a few record batches.
func TestMessagesReadIntoTheBatchBufferAreKafkaGosMessages(t *testing.T) {
	t.Run("in-process broker", func(t *testing.T) {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "read-test"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		compareReads(t, c.ListenAddrs()[0], "read-test")
	})
	t.Run("real broker", func(t *testing.T) {
		// The record batches and fetch limits of the broker users run.
		addr := itest.Kafka(t)
		topic := fmt.Sprintf("jevons.it_read_%d", time.Now().UnixNano()%1e9)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := topics.Ensure(ctx, nil, []string{addr}, topic, 1, 1, topics.EventTopicConfig()...); err != nil {
			t.Fatal(err)
		}
		compareReads(t, addr, topic)
	})
}

func compareReads(t *testing.T, addr, topic string) {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	n := 0
	for _, codec := range []kafka.Compression{0, kafka.Lz4, kafka.Gzip, kafka.Snappy, kafka.Zstd} {
		w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, BatchSize: 40, BatchTimeout: time.Millisecond,
			RequiredAcks: kafka.RequireAll, Compression: codec}
		var msgs []kafka.Message
		for range 100 {
			m := kafka.Message{Value: bytes.Repeat([]byte{byte('a' + n%26)}, 1+n*37%900), Time: base.Add(time.Duration(n) * time.Millisecond)}
			switch n % 4 {
			case 0:
				m.Key = []byte(fmt.Sprint("key-", n))
			case 1:
				m.Headers = []kafka.Header{{Key: "h", Value: []byte(fmt.Sprint(n))}, {Key: "empty"}}
			case 2:
				m.Value = nil
			}
			msgs = append(msgs, m)
			n++
		}
		if err := w.WriteMessages(context.Background(), msgs...); err != nil {
			t.Fatal(err)
		}
		_ = w.Close()
	}

	// readAll reads from offset on, one fetch of maxBytes at a time, with
	// kafka-go's reader or with msgReader, whose chunks are recycled after
	// each fetch as the partition does (the messages kept are copied out).
	readAll := func(from int64, maxBytes int, own bool) []kafka.Message {
		t.Helper()
		conn, err := (&kafka.Dialer{Timeout: 5 * time.Second}).DialLeader(context.Background(), "tcp", addr, topic, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var got []kafka.Message
		rd := newMsgReader()
		fb := &fetched{}
		for next := from; next < int64(n); {
			rd.reset(fb.chunks)
			if _, err := conn.Seek(next, kafka.SeekAbsolute|kafka.SeekDontCheck); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			b := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: maxBytes, MaxWait: 100 * time.Millisecond})
			before := len(got)
			for {
				var m kafka.Message
				if own {
					err = rd.next(b, topic, 0, next, &m)
				} else {
					m, err = b.ReadMessage()
				}
				if err != nil {
					break
				}
				got = append(got, m)
				next = m.Offset + 1
			}
			if cerr := b.Close(); cerr != nil {
				t.Fatalf("from offset %d, max bytes %d: %v (read: %v)", next, maxBytes, cerr, err)
			}
			if own {
				// The chunks hold exactly the keys and values of the
				// messages read: none of a skipped message's bytes.
				fb.chunks = rd.chunks
				held, used := 0, 0
				for _, c := range fb.chunks {
					held += len(c)
				}
				for i := range got[before:] {
					m := &got[before+i]
					used += len(m.Key) + len(m.Value)
					m.Key, m.Value = bytes.Clone(m.Key), bytes.Clone(m.Value)
				}
				if held != used {
					t.Fatalf("from offset %d, max bytes %d: the chunks hold %d bytes for messages of %d", next, maxBytes, held, used)
				}
				recycle(nil, fb)
			}
			if len(got) == before {
				t.Fatalf("from offset %d, max bytes %d: a fetch read nothing (%v)", next, maxBytes, err)
			}
		}
		return got
	}
	for _, tc := range []struct {
		from     int64
		maxBytes int
	}{{0, 1 << 20}, {0, 3000}, {163, 1 << 20}, {217, 2000}} {
		want, got := readAll(tc.from, tc.maxBytes, false), readAll(tc.from, tc.maxBytes, true)
		if len(want) != n-int(tc.from) || want[0].Offset != tc.from {
			t.Fatalf("from %d: kafka-go read %d messages from offset %d", tc.from, len(want), want[0].Offset)
		}
		if len(got) != len(want) {
			t.Fatalf("from %d, max bytes %d: read %d messages, kafka-go %d", tc.from, tc.maxBytes, len(got), len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("from %d, max bytes %d, message %d:\n got %+v\nwant %+v", tc.from, tc.maxBytes, i, got[i], want[i])
			}
		}
	}
}

// A fetched batch's buffer is overwritten once the batch is processed:
// whatever outlives processing owns its bytes. A dead letter keeps the
// message as it came, a late event waiting for its stored state keeps its
// strings, and an observer may keep the strings it is shown.
func TestWhatOutlivesABatchOwnsItsBytes(t *testing.T) {
	cfg := DefaultConfig()
	obs := &keepingObserver{}
	cfg.Observer = obs
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	msg := func(off int64, at time.Time, tenant string) kafka.Message {
		ev := schemas.Event{EventID: fmt.Sprint("e", off), Time: at, Tenant: tenant, TaskID: fmt.Sprint("task", off),
			App: "app", TaskType: "chat-turn", Provider: "openai", Model: "gpt-4o", Usage: schemas.Usage{InputTokens: 10, OutputTokens: 1}}
		return kafka.Message{Offset: off, Value: schemas.AppendJSON(nil, &ev), Time: now}
	}
	msgs := []kafka.Message{
		msg(0, now, "on-time"),
		{Offset: 1, Value: []byte(`{"event_id":"broken"`), Key: []byte("k1"), Time: now},
		msg(2, now.Add(-3*24*time.Hour), "late"), // its day's state is loaded first
	}
	sent := make([][]byte, len(msgs))
	st := newMemStore()
	p := newPartition(0, &cfg, pricing.MustDefault())
	p.startFresh(0)
	if err := p.activate(ctx, st, now); err != nil {
		t.Fatal(err)
	}
	for i := range msgs {
		m := &msgs[i]
		sent[i] = bytes.Clone(m.Value)
		p.process(m)
		for j := range m.Value { // the fetcher reuses the buffer
			m.Value[j] = 'x'
		}
		for j := range m.Key {
			m.Key[j] = 'x'
		}
		if i == 0 {
			st.flush(t, ctx, p) // the clock's windows close: the late event waits for its stored states
		}
	}
	if p.cold() != 4 {
		t.Fatalf("%d events wait for stored states, want the late one's minute, day, month and task", p.cold())
	}
	if len(p.dlq) != 1 || !bytes.Equal(p.dlq[0].msg.Value, sent[1]) || string(p.dlq[0].msg.Key) != "k1" {
		t.Fatalf("the dead letter holds %q (key %q), want the message as sent, %q", p.dlq[0].msg.Value, p.dlq[0].msg.Key, sent[1])
	}
	st.flush(t, ctx, p)
	for _, table := range []string{sink.UsageTable, sink.UsageDailyTable, sink.UsageMonthlyTable} {
		var tenants []string
		for k, r := range st.usage[table] {
			if r.Requests != 1 || r.App != "app" || r.Model != "gpt-4o" {
				t.Fatalf("%s: row %+v", table, r)
			}
			tenants = append(tenants, k.tenant)
		}
		if slices.Sort(tenants); fmt.Sprint(tenants) != "[late on-time]" {
			t.Fatalf("%s holds the tenants %q, want late and on-time", table, tenants)
		}
	}
	var tasks []string
	for k := range st.tasks {
		tasks = append(tasks, k.tenant+"/"+k.taskID)
	}
	if slices.Sort(tasks); fmt.Sprint(tasks) != "[late/task2 on-time/task0]" {
		t.Fatalf("the task states are %q", tasks)
	}
	// The late task's event reaches the observer when its state is loaded.
	if fmt.Sprint(obs.kept) != "[on-time task0 chat-turn app gpt-4o late task2 chat-turn app gpt-4o]" {
		t.Fatalf("the observer kept %q", obs.kept)
	}
}

// keepingObserver keeps the strings it is shown, as stream alerting does.
type keepingObserver struct{ kept []string }

func (o *keepingObserver) ObserveTask(t *TaskObservation) {
	o.kept = append(o.kept, t.Tenant, t.TaskID, t.TaskType, t.App, t.Model)
}

// The catalog may keep the provider and model it is asked for (its match
// cache does): it is given strings of the partition's own. When it was
// given the event's, which point into the fetched batch's buffer, the
// cache's key read as whatever the buffer held next, and an event of that
// model was priced as the first.
func TestPricesFollowTheModelNotTheReusedBuffer(t *testing.T) {
	cfg := DefaultConfig()
	cat := pricing.MustDefault()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	usage := schemas.Usage{InputTokens: 1000, OutputTokens: 100}
	const first, second = "gpt-4o", "o3-pro" // as long as each other: the bytes of one overwrite the other's in place
	want := map[string]int64{}
	for _, model := range []string{first, second} {
		r, err := pricing.MustDefault().CostAt(pricing.Usage{Input: usage.InputTokens, Output: usage.OutputTokens}, "openai", model, now)
		if err != nil || !r.Priced {
			t.Fatalf("%s: %+v %v", model, r, err)
		}
		want[model] = r.CostNanos
	}
	if want[first] == want[second] {
		t.Fatalf("%s and %s cost the same: the test cannot tell them apart", first, second)
	}
	value := func(model string) []byte {
		ev := schemas.Event{EventID: "e1", Time: now, Tenant: "t", TaskID: "task", Provider: "openai", Model: model, Usage: usage}
		return schemas.AppendJSON(nil, &ev)
	}
	buf := value(first)
	p := newPartition(0, &cfg, cat)
	p.startFresh(0)
	st := newMemStore()
	if err := p.activate(context.Background(), st, now); err != nil {
		t.Fatal(err)
	}
	p.process(&kafka.Message{Offset: 0, Value: buf, Time: now})
	copy(buf, value(second)) // the fetcher reuses the buffer for the next message
	// Other models fill the catalog's cache past a map's first group, so
	// that it grows and files each key under what its bytes read now.
	for i := range 16 {
		ev := schemas.Event{EventID: fmt.Sprint("other", i), Time: now, Tenant: "t", TaskID: "task", Provider: "openai",
			Model: fmt.Sprint("not-a-model-", i), Usage: usage}
		p.process(&kafka.Message{Offset: int64(1 + i), Value: schemas.AppendJSON(nil, &ev), Time: now})
	}
	again := bytes.Replace(value(second), []byte(`"e1"`), []byte(`"e2"`), 1)
	p.process(&kafka.Message{Offset: 17, Value: again, Time: now})
	st.flush(t, context.Background(), p)
	got := map[string]int64{}
	for k, r := range st.usage[sink.UsageTable] {
		got[k.model] += r.CostNanos
	}
	if got[first] != want[first] || got[second] != want[second] {
		t.Fatalf("costs by model %v, want %v", got, want)
	}
}

// A key or value cut short at the end of a fetch response is reported with
// kafka-go's own error, which its batch reader tells from a failure (and
// which an upgrade that renamed it would leave nil here).
func TestAShortReadIsKafkaGosShortRead(t *testing.T) {
	if errShortRead == nil || errShortRead.Error() == "" {
		t.Fatalf("kafka-go's short-read error is not linked: %v", errShortRead)
	}
	rd := newMsgReader()
	br := bufio.NewReader(strings.NewReader("abcdef"))
	b, remain, err := rd.read(br, 6, 10) // 10 bytes announced, 6 left in the response
	if !errors.Is(err, errShortRead) || string(b) != "abcdef" || remain != 0 {
		t.Fatalf("got %q, %d left, %v; want the 6 bytes there are, none left and the short-read error", b, remain, err)
	}
}
