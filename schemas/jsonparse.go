package schemas

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// parser is a minimal strict JSON reader over one message.
type parser struct {
	data  []byte
	i     int
	first bool // just after '{'
}

func (p *parser) fail(msg string) error { return &SyntaxError{p.i, msg} }

func (p *parser) ws() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) peek() byte {
	p.ws()
	if p.i < len(p.data) {
		return p.data[p.i]
	}
	return 0
}

// open consumes '{'; next then yields each field name, leaving the parser
// at its value, which the caller must consume.
func (p *parser) open() error {
	if p.peek() != '{' {
		return p.fail("want an object")
	}
	p.i++
	p.first = true
	return nil
}

// next returns the next field name, or more=false after the closing '}'.
// The name aliases the input when it has no escapes.
func (p *parser) next() (key []byte, more bool, err error) {
	c := p.peek()
	if !p.first {
		switch c {
		case ',':
			p.i++
			c = p.peek()
		case '}':
			p.i++
			return nil, false, nil
		default:
			return nil, false, p.fail("want ',' or '}'")
		}
	} else if c == '}' {
		p.i++
		p.first = false
		return nil, false, nil
	}
	p.first = false
	if c != '"' {
		return nil, false, p.fail("want a field name")
	}
	if key, err = p.rawStr(); err != nil {
		return nil, false, err
	}
	if p.peek() != ':' {
		return nil, false, p.fail("want ':' after a field name")
	}
	p.i++
	return key, true, nil
}

// rawStr returns the string at p, aliasing the input when it has no
// escapes and copying otherwise.
func (p *parser) rawStr() ([]byte, error) {
	if span, ok := p.plain(); ok {
		return span, nil
	}
	return p.str(nil)
}

// str appends the unescaped JSON string at p to dst.
func (p *parser) str(dst []byte) ([]byte, error) {
	if span, ok := p.plain(); ok {
		return append(dst, span...), nil
	}
	p.i++ // opening quote
	start := p.i
	for p.i < len(p.data) {
		c := p.data[p.i]
		switch {
		case c == '"':
			dst = append(dst, p.data[start:p.i]...)
			p.i++
			return dst, nil
		case c == '\\':
			dst = append(dst, p.data[start:p.i]...)
			var err error
			if dst, err = p.escape(dst); err != nil {
				return nil, err
			}
			start = p.i
		case c < 0x20:
			return nil, p.fail("control character in string")
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(p.data[p.i:])
			if r == utf8.RuneError && size == 1 {
				return nil, p.fail("invalid UTF-8 in string")
			}
			p.i += size
		default:
			p.i++
		}
	}
	return nil, p.fail("unterminated string")
}

// plainByte marks the bytes a plain string may hold without a closer look:
// printable ASCII other than '"' and '\\'.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plain is the fast path for strings of printable ASCII without escapes:
// one table lookup per byte. Other strings take the general path.
func (p *parser) plain() ([]byte, bool) {
	d := p.data
	start := p.i + 1
	j := start
	for j < len(d) && plainByte[d[j]] {
		j++
	}
	if j == len(d) || d[j] != '"' {
		return nil, false
	}
	p.i = j + 1
	return d[start:j], true
}

func (p *parser) escape(dst []byte) ([]byte, error) {
	if p.i+1 >= len(p.data) {
		return nil, p.fail("unterminated escape")
	}
	c := p.data[p.i+1]
	p.i += 2
	switch c {
	case '"', '\\', '/':
		return append(dst, c), nil
	case 'b':
		return append(dst, '\b'), nil
	case 'f':
		return append(dst, '\f'), nil
	case 'n':
		return append(dst, '\n'), nil
	case 'r':
		return append(dst, '\r'), nil
	case 't':
		return append(dst, '\t'), nil
	case 'u':
		r, ok := p.hex4()
		if !ok {
			return nil, p.fail("bad \\u escape")
		}
		if r >= 0xD800 && r < 0xDC00 && p.i+1 < len(p.data) && p.data[p.i] == '\\' && p.data[p.i+1] == 'u' {
			p.i += 2
			lo, ok := p.hex4()
			if !ok {
				return nil, p.fail("bad \\u escape")
			}
			r = utf16Pair(r, lo)
		}
		return utf8.AppendRune(dst, r), nil
	}
	return nil, p.fail("unknown escape")
}

func utf16Pair(hi, lo rune) rune {
	if lo < 0xDC00 || lo > 0xDFFF {
		return utf8.RuneError
	}
	return (hi-0xD800)<<10 + (lo - 0xDC00) + 0x10000
}

func (p *parser) hex4() (rune, bool) {
	if p.i+4 > len(p.data) {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.i : p.i+4] {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}

// integer reads a JSON number; ok is false (and the value skipped) when it
// is valid JSON but not an integer in int64 range, or not a number at all.
func (p *parser) integer() (int64, bool, error) {
	c := p.peek()
	if c != '-' && (c < '0' || c > '9') {
		return 0, false, p.skip()
	}
	start := p.i
	// Fast path: up to 18 plain digits cannot overflow.
	var n int64
	j := start
	for j < len(p.data) && j-start < 18 && p.data[j] >= '0' && p.data[j] <= '9' {
		n = n*10 + int64(p.data[j]-'0')
		j++
	}
	if j > start && j < len(p.data) && (p.data[j] == ',' || p.data[j] == '}' || p.data[j] == ' ' || p.data[j] == '\n') &&
		(p.data[start] != '0' || j == start+1) {
		p.i = j
		return n, true, nil
	}
	if err := p.number(); err != nil {
		return 0, false, err
	}
	n, err := strconv.ParseInt(bytesToString(p.data[start:p.i]), 10, 64)
	return n, err == nil, nil
}

func (p *parser) number() error {
	start := p.i
	if p.i < len(p.data) && p.data[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		s := p.i
		for p.i < len(p.data) && p.data[p.i] >= '0' && p.data[p.i] <= '9' {
			p.i++
		}
		return p.i - s
	}
	if digits() == 0 {
		return p.fail("bad number")
	}
	if p.i < len(p.data) && p.data[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return p.fail("bad number")
		}
	}
	if p.i < len(p.data) && (p.data[p.i] == 'e' || p.data[p.i] == 'E') {
		p.i++
		if p.i < len(p.data) && (p.data[p.i] == '+' || p.data[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return p.fail("bad number")
		}
	}
	if p.i-start > 1 && p.data[start] == '0' && p.data[start+1] >= '0' && p.data[start+1] <= '9' {
		return p.fail("leading zero in number")
	}
	return nil
}

func (p *parser) boolean() (bool, bool, error) {
	switch {
	case p.literal("true"):
		return true, true, nil
	case p.literal("false"):
		return false, true, nil
	}
	return false, false, p.skip()
}

func (p *parser) literal(s string) bool {
	p.ws()
	if len(p.data)-p.i >= len(s) && string(p.data[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

var errDepth = errors.New("nesting too deep")

// skip consumes any JSON value.
func (p *parser) skip() error { return p.skipDepth(0) }

func (p *parser) skipDepth(depth int) error {
	if depth > 32 {
		return p.fail(errDepth.Error())
	}
	switch c := p.peek(); {
	case c == '"':
		_, err := p.str(nil)
		return err
	case c == '{':
		if err := p.open(); err != nil {
			return err
		}
		for {
			_, more, err := p.next()
			if err != nil || !more {
				return err
			}
			if err := p.skipDepth(depth + 1); err != nil {
				return err
			}
		}
	case c == '[':
		p.i++
		if p.peek() == ']' {
			p.i++
			return nil
		}
		for {
			if err := p.skipDepth(depth + 1); err != nil {
				return err
			}
			switch p.peek() {
			case ',':
				p.i++
			case ']':
				p.i++
				return nil
			default:
				return p.fail("want ',' or ']'")
			}
		}
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case p.literal("true"), p.literal("false"), p.literal("null"):
		return nil
	}
	return p.fail("want a JSON value")
}
