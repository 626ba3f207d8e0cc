package procstat

import (
	"os"
	"path/filepath"
	"testing"
)

// The ceiling is the least of the machine's memory and the memory limits
// of the process's cgroup and its ancestors, v1 or v2; "max" and v1's
// unlimited value are no limit, and an unreadable tree is no ceiling.
func TestMemoryCeilingIsTheLeastOfTheMachineAndTheCgroups(t *testing.T) {
	const meminfo = "MemTotal:       25165824 kB\nMemFree:         1000 kB\n" // 24 GiB
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"nothing readable", nil, 0},
		{"machine only", map[string]string{"proc/meminfo": meminfo}, 24 << 30},
		{"v2 container", map[string]string{"proc/meminfo": meminfo, "proc/self/cgroup": "0::/\n",
			"sys/fs/cgroup/memory.max": "671088640\n"}, 640 << 20},
		{"v2 max", map[string]string{"proc/meminfo": meminfo, "proc/self/cgroup": "0::/a/b\n",
			"sys/fs/cgroup/a/b/memory.max": "max\n"}, 24 << 30},
		{"v2 ancestor", map[string]string{"proc/meminfo": meminfo, "proc/self/cgroup": "0::/a/b\n",
			"sys/fs/cgroup/a/b/memory.max": "max\n", "sys/fs/cgroup/a/memory.max": "1073741824\n"}, 1 << 30},
		{"v1", map[string]string{"proc/meminfo": meminfo, "proc/self/cgroup": "9:pids:/\n4:memory:/pod/c1\n0::/\n",
			"sys/fs/cgroup/memory/pod/c1/memory.limit_in_bytes": "536870912\n"}, 512 << 20},
		{"v1 unlimited", map[string]string{"proc/meminfo": meminfo, "proc/self/cgroup": "4:cpu,memory:/x\n",
			"sys/fs/cgroup/memory/x/memory.limit_in_bytes": "9223372036854771712\n"}, 24 << 30},
		{"limit above the machine", map[string]string{"proc/meminfo": meminfo, "proc/self/cgroup": "0::/\n",
			"sys/fs/cgroup/memory.max": "68719476736\n"}, 24 << 30},
	} {
		root := t.TempDir()
		for name, body := range tc.files {
			p := filepath.Join(root, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if got := memoryCeiling(root); got != tc.want {
			t.Errorf("%s: ceiling %d MiB, want %d MiB", tc.name, got>>20, tc.want>>20)
		}
	}
	if got := MemoryCeiling(); got <= 0 {
		t.Errorf("this machine: ceiling %d, want its memory or less", got)
	}
}
