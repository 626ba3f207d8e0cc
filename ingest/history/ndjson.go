package history

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/jevonsdev/jevons/schemas"
)

// maxListed bounds the bad lines an error lists one by one.
const maxListed = 50

// ReadNDJSON reads schema-v1 events, one JSON object a line (blank lines
// allowed). Every bad line is reported with its line number; on any error
// no events are returned, so a file is imported whole or not at all.
func ReadNDJSON(r io.Reader) ([]schemas.Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), schemas.MaxMessageBytes+1)
	var dec schemas.Decoder
	var out []schemas.Event
	var errs []error
	bad := 0
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(trimSpace(b)) == 0 {
			continue
		}
		var ev schemas.Event
		if err := dec.Decode(b, &ev); err != nil {
			if bad++; bad <= maxListed {
				errs = append(errs, fmt.Errorf("line %d: %w", line, err))
			}
			continue
		}
		out = append(out, ev)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	if bad > maxListed {
		errs = append(errs, fmt.Errorf("and %d more bad lines", bad-maxListed))
	}
	if bad > 0 {
		return nil, fmt.Errorf("%d of %d lines are not valid schema-v1 events, nothing imported:\n%w", bad, line, errors.Join(errs...))
	}
	return out, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
