package procstat

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestVmHWMOfThisProcessIsAtLeastItsLiveHeap(t *testing.T) {
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	kb := VmHWM(os.Getpid())
	if kb*1024 < int64(len(buf)) {
		t.Fatalf("VmHWM %d KiB, below the 64 MiB this test touched", kb)
	}
	_ = buf[len(buf)-1]
}

// A child's peak must be its own: this test process has touched 64 MiB
// (above), a shell touches a few, and rusage from wait4 would report this
// process's high-water mark for the child.
func TestAChildsPeakIsItsOwnNotItsParents(t *testing.T) {
	parent := make([]byte, 128<<20)
	for i := range parent {
		parent[i] = 1
	}
	cmd := exec.Command("sleep", "0.5")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	w := WatchPeakRSS(cmd.Process.Pid, 20*time.Millisecond)
	_ = cmd.Wait()
	w.Stop()
	if w.Bytes() == 0 {
		t.Fatal("no VmHWM read from the child")
	}
	if w.Bytes() >= 64<<20 {
		t.Fatalf("child peak %d MiB: that is the parent's figure", w.Bytes()>>20)
	}
	_ = parent[len(parent)-1]
}

func TestCPUSecondsGrowsWithWorkDone(t *testing.T) {
	before := CPUSeconds(os.Getpid())
	if before < 0 {
		t.Fatal("no CPU time read for this process")
	}
	x := uint64(1)
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
		for range 1_000_000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	after := CPUSeconds(os.Getpid())
	if after <= before {
		t.Fatalf("CPU time went from %v to %v s after busy work (%d)", before, after, x)
	}
	if CPUSeconds(-1) != -1 {
		t.Fatal("a missing process did not read as -1")
	}
}
