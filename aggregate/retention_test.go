package aggregate

import "testing"

// A restart whose range retention has partly deleted is reported: the
// replay's lost messages (only the duplicate set misses them) apart from
// events never counted (at or above flushed_through).
func TestRetentionGapSeparatesReplayFromUncountedEvents(t *testing.T) {
	for _, c := range []struct {
		name                        string
		first, replayFrom, flushed  int64
		wantReplayLost, wantUncount int64
	}{
		{"nothing deleted past the replay start", 100, 100, 500, 0, 0},
		{"retention inside the replay", 300, 100, 500, 200, 0},
		{"retention past flushed_through", 700, 100, 500, 400, 200},
		{"continuing from a committed offset past retention", 900, 600, 600, 0, 300},
		{"a first start", 50, -2, 0, 0, 0},
	} {
		r, u := retentionGap(c.first, c.replayFrom, c.flushed)
		if r != c.wantReplayLost || u != c.wantUncount {
			t.Errorf("%s: replay lost %d, uncounted %d; want %d, %d", c.name, r, u, c.wantReplayLost, c.wantUncount)
		}
	}
}
