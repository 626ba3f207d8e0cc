package aggregate

import (
	"bufio"
	"io"
	"time"
	_ "unsafe" // go:linkname, below

	"github.com/segmentio/kafka-go"
)

// kafka-go's Batch.ReadMessage allocates a new slice for every message's key
// and value: in a backlog those copies were over a third of the
// aggregator's allocation, and with it of the collector's work. Batch.Read
// fills a caller's buffer but drops the offset's timestamp (the time checks
// need it) and the headers (a dead letter keeps them). The method both use,
// Batch.readMessage, takes the functions that read the key and the value
// and returns the rest: it is reached here by its symbol, so that keys and
// values land in one buffer per batch instead.
//
// The signature below must be kafka-go's exactly (go.mod pins the version:
// v0.4.51). TestMessagesReadIntoTheBatchBufferAreKafkaGosMessages reads the
// same fetches both ways and compares every field, so an upgrade that
// changes it fails that test rather than reading garbage.

//go:linkname batchReadMessage github.com/segmentio/kafka-go.(*Batch).readMessage
func batchReadMessage(b *kafka.Batch, key, val func(*bufio.Reader, int, int) (int, error)) (offset, timestamp int64, headers []kafka.Header, err error)

// errShortRead is kafka-go's own: a message cut short at the end of a fetch
// response (the broker stops at MaxBytes) is told from a failure by it.
//
//go:linkname errShortRead github.com/segmentio/kafka-go.errShortRead
var errShortRead error

// msgReader reads a batch's messages with their keys and values appended to
// the batch's chunks, which the partition hands back with the batch once it
// is processed (see recycle): whatever outlives processing must be copied
// out of a message first (a dead letter's bytes, a deferred event's strings).
type msgReader struct {
	chunks   [][]byte // the current batch's: chunks[cur] is being filled
	cur      int
	key, val []byte // of the message being read
	readKey  func(*bufio.Reader, int, int) (int, error)
	readVal  func(*bufio.Reader, int, int) (int, error)
}

// msgChunk is the size of a batch's chunks: a batch holds its bytes plus
// the unused end of each chunk (less than the next key or value) and of the
// last, and a key or value larger than a chunk gets a buffer of its own.
// A recycled batch keeps at most maxKeptChunks (256 KiB: 512 messages of
// 500 B), so that a batch of large messages does not pin its bytes.
const (
	msgChunk      = 64 << 10
	maxKeptChunks = 4
)

func newMsgReader() *msgReader {
	r := &msgReader{}
	r.readKey = func(br *bufio.Reader, size, n int) (int, error) {
		var err error
		r.key, size, err = r.read(br, size, n)
		return size, err
	}
	r.readVal = func(br *bufio.Reader, size, n int) (int, error) {
		var err error
		r.val, size, err = r.read(br, size, n)
		return size, err
	}
	return r
}

// reset starts filling a batch's chunks.
func (r *msgReader) reset(chunks [][]byte) { r.chunks, r.cur = chunks, 0 }

// read is kafka-go's readNewBytes with the bytes appended to the batch's
// chunks: n bytes of the size left in the message set (n <= 0: none, a
// null key or value).
func (r *msgReader) read(br *bufio.Reader, size, n int) ([]byte, int, error) {
	if n <= 0 {
		return nil, size, nil
	}
	short := size < n
	if short {
		n = size
	}
	if len(r.chunks) == 0 {
		r.chunks = append(r.chunks, make([]byte, 0, max(msgChunk, n)))
	} else if c := r.chunks[r.cur]; cap(c)-len(c) < n {
		if r.cur++; r.cur == len(r.chunks) {
			r.chunks = append(r.chunks, nil)
		}
		if cap(r.chunks[r.cur]) < n {
			r.chunks[r.cur] = make([]byte, 0, max(msgChunk, n))
		}
	}
	c := r.chunks[r.cur]
	start := len(c)
	b := c[start : start+n : start+n]
	got, err := io.ReadFull(br, b)
	r.chunks[r.cur] = c[:start+got]
	if err == nil && short {
		err = errShortRead
	}
	return b[:got], size - got, err
}

// next reads the next message of b at or after offset from into m, as
// Batch.ReadMessage does: a compressed record batch may begin before the
// offset asked for, and the messages before it are skipped.
func (r *msgReader) next(b *kafka.Batch, topic string, partition int, from int64, m *kafka.Message) error {
	for {
		r.key, r.val = nil, nil
		cur, used := r.cur, 0
		if cur < len(r.chunks) {
			used = len(r.chunks[cur])
		}
		offset, timestamp, headers, err := batchReadMessage(b, r.readKey, r.readVal)
		if err != nil || offset < from {
			r.unread(cur, used) // no message keeps these bytes
			if err != nil {
				return err
			}
			continue
		}
		*m = kafka.Message{Topic: topic, Partition: partition, Offset: offset, HighWaterMark: b.HighWaterMark(),
			Key: r.key, Value: r.val, Headers: headers, Time: messageTime(timestamp)}
		return nil
	}
}

// unread gives back the bytes read since the chunks were at (cur, used).
func (r *msgReader) unread(cur, used int) {
	for i := cur; i <= r.cur && i < len(r.chunks); i++ {
		r.chunks[i] = r.chunks[i][:used]
		used = 0
	}
	r.cur = cur
}

// messageTime is kafka-go's makeTime: a timestamp of 0 or less is none.
func messageTime(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.Unix(ms/1000, (ms%1000)*int64(time.Millisecond)).UTC()
}
