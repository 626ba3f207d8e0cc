package aggregate

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// The fetcher reads every message once and in order while the partition's
// leader moves to another broker twice, hands messages over in batches of at
// most fetchBatch, marks each with the high watermark of its fetch, and
// skips (loudly) what retention deleted before it was read. The in-process
// broker lets the test move leaders and delete records; the aggregator's
// integration tests read from the real broker through the same fetcher.
func TestFetcherFollowsLeaderMovesAndSkipsDeletedRecords(t *testing.T) {
	const topic = "fetch-test"
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(1, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	produce := func(from, to int) {
		t.Helper()
		w := &kafka.Writer{Addr: kafka.TCP(c.ListenAddrs()...), Topic: topic, BatchSize: 500, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
		defer w.Close()
		var msgs []kafka.Message
		for i := from; i < to; i++ {
			msgs = append(msgs, kafka.Message{Value: []byte(fmt.Sprintf("m%d", i))})
		}
		if err := w.WriteMessages(context.Background(), msgs...); err != nil {
			t.Fatal(err)
		}
	}
	produced := 2000
	produce(0, produced)

	core, logs := observer.New(zap.DebugLevel)
	defer func() {
		if t.Failed() {
			for _, e := range logs.All() {
				t.Log(e.Message, e.ContextMap())
			}
		}
	}()
	f := &fetcher{dialer: &kafka.Dialer{Timeout: 5 * time.Second}, brokers: c.ListenAddrs(), topic: topic, partition: 0,
		maxBytes: 1 << 20, maxWait: 100 * time.Millisecond, log: zap.New(core)}
	out := make(chan *fetched, 4)
	spent := make(chan *fetched, 5) // batches come back for reuse, as the partition hands them
	var stop func()
	start := func(from int64) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); f.run(ctx, from, out, spent) }()
		stop = func() { cancel(); <-done }
	}
	start(0)
	defer func() { stop() }()

	next := int64(0)
	take := func(fb *fetched) {
		t.Helper()
		b := fb.msgs
		if len(b) == 0 || len(b) > fetchBatch {
			t.Fatalf("a batch of %d messages (want 1 to %d)", len(b), fetchBatch)
		}
		for _, m := range b {
			if m.Offset != next || string(m.Value) != fmt.Sprintf("m%d", m.Offset) {
				t.Fatalf("got offset %d (%q), want offset %d", m.Offset, m.Value, next)
			}
			if m.HighWaterMark <= m.Offset {
				t.Fatalf("offset %d carries high watermark %d", m.Offset, m.HighWaterMark)
			}
			next++
		}
		recycle(spent, fb) // the next batches overwrite its chunks
	}
	read := func(until int64) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for next < until {
			select {
			case b := <-out:
				take(b)
			case <-deadline:
				t.Fatalf("stuck at offset %d, want %d", next, until)
			}
		}
	}
	read(700)
	for _, node := range []int32{(c.LeaderFor(topic, 0) + 1) % 3, (c.LeaderFor(topic, 0) + 2) % 3} {
		if err := c.MoveTopicPartition(topic, 0, node); err != nil {
			t.Fatal(err)
		}
		produce(produced, produced+500)
		produced += 500
		read(next + 800)
	}
	if len(logs.FilterMessageSnippet("retention").All()) != 0 {
		t.Fatal("a skip was reported where nothing was deleted")
	}

	// Retention deletes what the fetcher has not read yet: it goes on from
	// the first offset kept and says how many messages were lost.
	stop()
	for len(out) > 0 { // what was fetched before the stop
		take(<-out)
	}
	produce(produced, produced+1000)
	end := next + 500 // records below it are deleted; next is where reading resumes
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrDeleteRecordsRequest()
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = 0, end
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("delete records: error code %d", code)
	}
	from := next
	start(from)
	if got := firstOffset(t, out, "after the deletion"); got != end {
		t.Fatalf("after the deletion, reading resumed at offset %d, want the first kept offset %d", got, end)
	}
	skips := logs.FilterMessageSnippet("retention deleted messages").All()
	if len(skips) != 1 || skips[0].ContextMap()["messages"] != end-from {
		t.Fatalf("want one error naming %d lost messages, got %v", end-from, skips)
	}

	// A partition consumed for the first time starts at its first kept
	// offset, and nothing is reported lost.
	stop()
	for len(out) > 0 {
		<-out
	}
	start(kafka.FirstOffset)
	if got := firstOffset(t, out, "from the first offset"); got != end {
		t.Fatalf("from the first offset, reading began at %d, want %d", got, end)
	}
	if n := len(logs.FilterMessageSnippet("retention deleted messages").All()); n != 1 {
		t.Fatalf("a first start reported lost messages (%d reports)", n)
	}
}

// firstOffset returns the offset of the first message of the next batch
// the fetcher hands over.
func firstOffset(t *testing.T, out <-chan *fetched, when string) int64 {
	t.Helper()
	select {
	case b := <-out:
		return b.msgs[0].Offset
	case <-time.After(30 * time.Second):
		t.Fatalf("nothing read %s", when)
		return 0
	}
}
