package aggregate

import (
	"bytes"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestOversizedDeadLettersAreTruncatedWithHeaders(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 3<<20)
	for _, tc := range []struct {
		name      string
		msg       kafka.Message
		truncated bool
	}{
		{"a small message keeps its value and headers", kafka.Message{Value: []byte("{bad"), Headers: []kafka.Header{{Key: "h", Value: []byte("v")}}}, false},
		{"a 3 MiB value is cut to 64 KiB", kafka.Message{Value: big}, true},
		{"3 MiB of headers are dropped", kafka.Message{Value: []byte("{"), Headers: []kafka.Header{{Key: "h", Value: big}}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := deadLetter{msg: tc.msg, reason: "malformed JSON"}
			m := dlqMessage("events", &d)
			h := map[string]string{}
			for _, x := range m.Headers {
				h[x.Key] = string(x.Value)
			}
			if size(&m) > maxDeadLetterBytes || h["jevons-reason"] != "malformed JSON" || h["jevons-src-offset"] == "" {
				t.Fatalf("dead letter of %d bytes, headers %v", size(&m), h)
			}
			if got := h["jevons-truncated"] == "true"; got != tc.truncated {
				t.Fatalf("truncated header %v, want %v", got, tc.truncated)
			}
			if tc.truncated && (h["jevons-original-bytes"] == "" || len(h["jevons-original-sha256"]) != 64) {
				t.Fatalf("truncated dead letter without its original size and digest: %v", h)
			}
			if !tc.truncated && (!bytes.Equal(m.Value, tc.msg.Value) || h["h"] != "v") {
				t.Fatalf("small dead letter changed: %q %v", m.Value, h)
			}
		})
	}
}

// A flush whose dead-letter write fails keeps its dead letters for the next
// flush, which reads the DLQ back before writing.
func TestDeadLettersOfAFailedFlushAreWrittenByTheNext(t *testing.T) {
	p := activePartition()
	p.process(&kafka.Message{Offset: 0, Value: []byte("{bad")})
	b, err := p.snapshot()
	if err != nil || len(b.dlq) != 1 {
		t.Fatalf("snapshot %v: %d dead letters", err, len(b.dlq))
	}
	p.unflushed(b)
	p.process(&kafka.Message{Offset: 1, Value: []byte("{bad too")})
	b, err = p.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if len(b.dlq) != 2 || b.dlq[0].msg.Offset != 0 || b.dlq[1].msg.Offset != 1 || !b.dlqRecheck {
		t.Fatalf("second flush carries %d dead letters (recheck %v), want offsets 0 and 1 after a read-back", len(b.dlq), b.dlqRecheck)
	}
	b.dlqWritten = true
	p.flushed(b)
	if p.dlqThrough != 1 || p.dlqRecheck || len(p.dlq) != 0 {
		t.Fatalf("after the flush: through %d recheck %v pending %d", p.dlqThrough, p.dlqRecheck, len(p.dlq))
	}
	if !strings.Contains(b.dlq[0].reason, "JSON") {
		t.Fatalf("reason %q", b.dlq[0].reason)
	}
}
