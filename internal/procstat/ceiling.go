package procstat

import (
	"os"
	"path"
	"strconv"
	"strings"
)

// MemoryCeiling returns the most memory this process can have: the
// smallest of the machine's memory (/proc/meminfo's MemTotal) and the
// limits of its memory cgroup and the cgroup's ancestors (cgroup v2's
// memory.max, v1's memory.limit_in_bytes), or 0 when none can be read.
func MemoryCeiling() int64 { return memoryCeiling("/") }

// memoryCeiling reads the files under root (a test's fake tree).
func memoryCeiling(root string) int64 {
	ceiling := int64(0)
	lower := func(v int64) {
		if v > 0 && (ceiling == 0 || v < ceiling) {
			ceiling = v
		}
	}
	if b, err := os.ReadFile(path.Join(root, "proc/meminfo")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "MemTotal:" && f[2] == "kB" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					lower(kb << 10)
				}
			}
		}
	}
	b, err := os.ReadFile(path.Join(root, "proc/self/cgroup"))
	if err != nil {
		return ceiling
	}
	for _, line := range strings.Split(string(b), "\n") {
		// hierarchy-id:controllers:path; v2's unified hierarchy is "0::path".
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		var dir, file string
		switch {
		case f[0] == "0" && f[1] == "":
			dir, file = "sys/fs/cgroup", "memory.max"
		case hasController(f[1], "memory"):
			dir, file = "sys/fs/cgroup/memory", "memory.limit_in_bytes"
		default:
			continue
		}
		for p := path.Clean("/" + f[2]); ; p = path.Dir(p) {
			if b, err := os.ReadFile(path.Join(root, dir, p, file)); err == nil {
				// "max" (v2) and v1's page-rounded 2^63 mean no limit.
				if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v < 1<<62 {
					lower(v)
				}
			}
			if p == "/" {
				break
			}
		}
	}
	return ceiling
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}
