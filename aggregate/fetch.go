package aggregate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// fetcher reads one partition straight from its leader's fetch responses and
// hands the messages over in batches. It is what kafka-go's Reader does for
// a partition, without the Reader's goroutine and channel send per message:
// the messages of a fetch response go out in one batch.
type fetcher struct {
	dialer    *kafka.Dialer
	brokers   []string
	topic     string
	partition int
	maxBytes  int           // the most bytes one fetch response carries
	maxWait   time.Duration // the longest the broker holds a fetch for MinBytes
	log       *zap.Logger
}

// fetchMessageTimeout bounds the wait for the rest of a fetch response once
// it has begun to arrive, and dialTimeout one broker's try to find and reach
// the partition's leader.
const (
	fetchMessageTimeout = 10 * time.Second
	dialTimeout         = 15 * time.Second
)

// run reads from offset on until ctx ends. A batch goes out when it holds
// fetchBatch messages or ends a fetch response, so a partition at its high
// watermark still sees every message at once. Errors are retried with
// backoff on a new connection to the partition's current leader, as the
// Reader does. An offset that retention has deleted is skipped to the first
// offset still kept, as the Reader does, but loudly: the events in between
// are lost (a restart range already deleted is reported by checkRetention).
func (f *fetcher) run(ctx context.Context, offset int64, out chan<- *fetched, spent <-chan *fetched) {
	for attempt := 0; ; attempt++ {
		if attempt > 0 && !sleepCtx(ctx, fetchBackoff(attempt)) {
			return
		}
		conn, err := f.dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			f.log.Warn("fetch: could not reach the partition's leader; retrying", zap.Int("attempt", attempt+1), zap.Error(err))
			continue
		}
		stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) }) // wakes a blocked read
		next, err := f.read(ctx, conn, offset, out, spent)
		stop()
		_ = conn.Close()
		if next > offset {
			attempt = 0 // progress was made: the next failure starts the backoff afresh
		}
		offset = next
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, kafka.OffsetOutOfRange):
			first, last, err := f.offsets(ctx)
			switch {
			case err != nil:
				f.log.Warn("fetch: offset out of range, and the partition's offsets could not be read; retrying", zap.Int64("offset", offset), zap.Error(err))
			case offset < first:
				f.log.Error("fetch: retention deleted messages before they were read; skipping them: their events are lost",
					zap.Int64("from", offset), zap.Int64("to", first), zap.Int64("messages", first-offset))
				offset, attempt = first, 0
			case offset > last:
				f.log.Warn("fetch: the offset to read from is past the partition's end; waiting for it", zap.Int64("offset", offset), zap.Int64("end", last))
			default:
				attempt = 0 // the partition grew meanwhile
			}
		case err != nil:
			f.log.Warn("fetch failed; reconnecting to the partition's leader", zap.Int64("offset", offset), zap.Error(err))
		}
	}
}

// dial connects to the partition's leader through the first broker that
// answers.
func (f *fetcher) dial(ctx context.Context) (*kafka.Conn, error) {
	var errs []error
	for _, b := range f.brokers {
		// Each broker gets a bounded try: the leader lookup has no read
		// deadline of its own, and a broker that accepts but never answers
		// must not keep the next one from being tried.
		actx, cancel := context.WithTimeout(ctx, dialTimeout)
		conn, err := f.dialer.DialLeader(actx, "tcp", b, f.topic, f.partition)
		cancel()
		if err == nil {
			return conn, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", b, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// read fetches from offset on over conn until an error, and returns the
// offset to go on from.
func (f *fetcher) read(ctx context.Context, conn *kafka.Conn, offset int64, out chan<- *fetched, spent <-chan *fetched) (int64, error) {
	if offset == kafka.FirstOffset || offset == kafka.LastOffset { // a partition consumed for the first time
		_ = conn.SetDeadline(time.Now().Add(fetchMessageTimeout))
		first, last, err := conn.ReadOffsets()
		_ = conn.SetDeadline(time.Time{})
		if err != nil {
			return offset, fmt.Errorf("read the partition's offsets: %w", err)
		}
		if offset == kafka.LastOffset {
			offset = last
		} else {
			offset = first
		}
	}
	if _, err := conn.Seek(offset, kafka.SeekAbsolute|kafka.SeekDontCheck); err != nil {
		return offset, err
	}
	batch := nextBatch(spent)
	rd := newMsgReader()
	rd.reset(batch.chunks)
	renew := false // a hand-over waited: the read deadline is renewed before the next read
	send := func() bool {
		batch.chunks = rd.chunks // the reader may have added chunks
		select {
		case out <- batch:
			batch = nextBatch(spent)
			rd.reset(batch.chunks)
			renew = true // the wait for the partition loop is not the broker's
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		// A context that ended while no read was blocked is seen here: the
		// deadline it set was overwritten by the next read's.
		if err := ctx.Err(); err != nil {
			return offset, err
		}
		// The broker holds the fetch up to maxWait for a first message; the
		// deadline leaves the response as long again as a message may take.
		_ = conn.SetReadDeadline(time.Now().Add(f.maxWait + fetchMessageTimeout))
		b := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: f.maxBytes, MaxWait: f.maxWait})
		var err error
		for n := 0; ; n++ {
			// Setting a deadline costs a clock read and a poller update:
			// it is renewed every deadlineEvery messages, which arrive
			// well within it unless the broker stalls, and after each
			// hand-over, which may wait for the partition loop.
			if renew || n%deadlineEvery == 0 {
				_ = conn.SetReadDeadline(time.Now().Add(fetchMessageTimeout))
				renew = false
			}
			batch.msgs = append(batch.msgs, kafka.Message{})
			m := &batch.msgs[len(batch.msgs)-1]
			if err = rd.next(b, f.topic, f.partition, offset, m); err != nil {
				batch.msgs = batch.msgs[:len(batch.msgs)-1]
				break
			}
			offset = m.Offset + 1 // m carries its fetch's high watermark
			if len(batch.msgs) == fetchBatch && !send() {
				_ = b.Close()
				return offset, ctx.Err()
			}
		}
		if cerr := b.Close(); err == nil || errors.Is(err, io.EOF) {
			err = cerr
		}
		if len(batch.msgs) > 0 && !send() {
			return offset, ctx.Err()
		}
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, kafka.RequestTimedOut) {
			return offset, err // a new connection goes on from offset
		} // else the response ended, or the broker had nothing new within maxWait
	}
}

// offsets reads the partition's first offset and its end.
func (f *fetcher) offsets(ctx context.Context) (first, last int64, err error) {
	conn, err := f.dial(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	return conn.ReadOffsets()
}

// fetched is a batch of messages and the chunks holding their keys and
// values (see msgReader).
type fetched struct {
	msgs   []kafka.Message
	chunks [][]byte
}

// recycle hands a processed batch back to the fetcher: a batch is 512 message
// headers (pointers the collector scans) and the chunks of their keys and
// values, allocated once rather than per batch or per message. What a
// message still needs after processing (a dead letter, a deferred event)
// was copied out of it: the fetcher overwrites the chunks.
func recycle(spent chan<- *fetched, batch *fetched) {
	clear(batch.msgs)
	batch.msgs = batch.msgs[:0]
	kept := batch.chunks[:0]
	for _, c := range batch.chunks {
		// Only chunks this batch used are kept (an idle partition's
		// small batches come to hold one each), and never a larger one:
		// it held one large message.
		if cap(c) == msgChunk && len(c) > 0 && len(kept) < maxKeptChunks {
			kept = append(kept, c[:0])
		}
	}
	clear(batch.chunks[len(kept):])
	batch.chunks = kept
	select {
	case spent <- batch:
	default:
	}
}

// deadlineEvery is how many messages of a response one read deadline
// covers.
const deadlineEvery = 256

// fetchBatch is the most messages handed over at once.
const fetchBatch = 512

func nextBatch(spent <-chan *fetched) *fetched {
	select {
	case b := <-spent:
		return b
	default:
		return &fetched{msgs: make([]kafka.Message, 0, fetchBatch)}
	}
}

// fetchBackoff is the wait before the attempt-th retry: 100 ms doubling up
// to 2 s.
func fetchBackoff(attempt int) time.Duration {
	return min(100*time.Millisecond<<min(attempt-1, 5), 2*time.Second)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
