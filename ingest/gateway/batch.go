package gateway

import (
	"bytes"
	"errors"
	"fmt"
)

// splitBatch splits a request body into raw events: a JSON array of
// objects, or NDJSON (one object per line; blank lines skipped). It fails
// only when the body's framing cannot be read; each element's own content
// is the event decoder's concern.
func splitBatch(body []byte, ndjson bool) ([][]byte, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if !ndjson && len(trimmed) > 0 && trimmed[0] == '[' {
		return splitArray(trimmed)
	}
	var out [][]byte
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if line = bytes.TrimSpace(line); len(line) > 0 {
			out = append(out, line)
		}
	}
	return out, nil
}

// splitArray returns the top-level elements of a JSON array, tracking
// strings and nesting only.
func splitArray(b []byte) ([][]byte, error) {
	var out [][]byte
	depth, start := 0, -1
	inStr, esc := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
			if depth == 1 && start < 0 {
				start = i
			}
		case '[', '{':
			depth++
			if depth == 1 {
				if c != '[' || i != 0 {
					return nil, errors.New("body: want a JSON array of events or NDJSON")
				}
				continue
			}
			if depth == 2 && start < 0 {
				start = i
			}
		case ']', '}':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("body: unbalanced %q at byte %d", c, i)
			}
			if depth == 0 {
				if c != ']' {
					return nil, fmt.Errorf("body: unbalanced %q at byte %d", c, i)
				}
				if start >= 0 {
					out = append(out, bytes.TrimSpace(b[start:i]))
				} else if len(out) > 0 {
					return nil, fmt.Errorf("body: trailing comma before byte %d", i)
				}
				if rest := bytes.TrimSpace(b[i+1:]); len(rest) > 0 {
					return nil, fmt.Errorf("body: data after the array at byte %d", i+1)
				}
				return out, nil
			}
		case ',':
			if depth == 1 {
				if start < 0 {
					return nil, fmt.Errorf("body: empty array element at byte %d", i)
				}
				out = append(out, bytes.TrimSpace(b[start:i]))
				start = -1
			}
		case ' ', '\t', '\r', '\n':
		default:
			if depth == 1 && start < 0 {
				start = i
			}
		}
	}
	return nil, errors.New("body: the JSON array is not closed")
}
