package schemas

import (
	"sort"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends the event as one schema v1 JSON object. Zero optional
// fields are omitted. It does not validate.
func AppendJSON(dst []byte, e *Event) []byte {
	dst = append(dst, `{"event_id":`...)
	dst = appendString(dst, e.EventID)
	dst = append(dst, `,"time":"`...)
	dst = e.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","tenant":`...)
	dst = appendString(dst, e.Tenant)
	opt := func(name, v string) {
		if v != "" {
			dst = append(dst, ',', '"')
			dst = append(dst, name...)
			dst = append(dst, '"', ':')
			dst = appendString(dst, v)
		}
	}
	opt("task_id", e.TaskID)
	opt("task_type", e.TaskType)
	if e.TaskDone {
		dst = append(dst, `,"task_done":true`...)
	}
	opt("app", e.App)
	opt("provider", e.Provider)
	opt("model", e.Model)
	opt("operation", e.Operation)
	opt("status", e.Status)
	if e.LatencyMs != 0 {
		dst = append(dst, `,"latency_ms":`...)
		dst = strconv.AppendInt(dst, e.LatencyMs, 10)
	}
	dst = append(dst, `,"usage":{`...)
	first := true
	num := func(name string, n int64) {
		if n == 0 {
			return
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
		dst = strconv.AppendInt(dst, n, 10)
	}
	u := &e.Usage
	num("input_tokens", u.InputTokens)
	num("output_tokens", u.OutputTokens)
	num("cache_read_tokens", u.CacheReadTokens)
	num("cache_write_tokens", u.CacheWriteTokens)
	num("cache_write_1h_tokens", u.CacheWrite1hTokens)
	num("reasoning_tokens", u.ReasoningTokens)
	dst = append(dst, '}')
	if len(e.Attributes) > 0 {
		keys := make([]string, 0, len(e.Attributes))
		for k := range e.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		dst = append(dst, `,"attributes":{`...)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = appendString(dst, e.Attributes[k])
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
