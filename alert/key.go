package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
)

// IdempotencyKey is the key of one firing episode of one alert instance:
// the same inputs give the same key on any replica and after any restart.
func IdempotencyKey(rule, groupKey, episode string) string {
	h := sha256.Sum256([]byte(rule + "\x00" + groupKey + "\x00" + episode))
	return hex.EncodeToString(h[:16])
}

// groupKey renders labels canonically: name=value pairs sorted by name.
func groupKey(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, k := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(labels[k])
	}
	return b.String()
}

func sortStrings(s []string) { sort.Strings(s) }
