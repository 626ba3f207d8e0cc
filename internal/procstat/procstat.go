// Package procstat reads a process's figures from /proc and /sys: a child's own peak
// memory and CPU time, and the most memory this process can have.
//
// The rusage a parent gets from wait4 is not that figure on Linux: Go starts
// children with vfork semantics, and at exec the kernel carries the old
// address space's high-water mark (the parent's) into the child's
// ru_maxrss, so a large parent reports its own peak as the child's. VmHWM
// in /proc/PID/status belongs to the child's address space only.
package procstat

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// PeakRSS watches one process's peak resident set size (VmHWM).
type PeakRSS struct {
	pid  int
	peak atomic.Int64
	stop chan struct{}
	done chan struct{}
}

// WatchPeakRSS polls pid's VmHWM every interval until Stop. VmHWM only
// grows, so the last reading before the process exits is its peak, give or
// take what it gained in the final interval.
func WatchPeakRSS(pid int, interval time.Duration) *PeakRSS {
	w := &PeakRSS{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			w.read()
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// Stop ends the polling; call it once the process has exited (or before,
// to freeze the figure). It is safe to call twice.
func (w *PeakRSS) Stop() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// Bytes is the highest VmHWM read so far, in bytes (0 if none was read).
func (w *PeakRSS) Bytes() int64 { return w.peak.Load() }

func (w *PeakRSS) read() {
	if kb := VmHWM(w.pid); kb*1024 > w.peak.Load() {
		w.peak.Store(kb * 1024)
	}
}

// VmHWM returns the process's peak resident set size in KiB, or 0 when it
// cannot be read (the process is gone, or this is not Linux).
func VmHWM(pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Bytes()
		if rest, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			f := bytes.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(string(f[0]), 10, 64)
				return n
			}
		}
	}
	return 0
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// on every Linux architecture Go supports (the kernel scales to it).
const clockTicks = 100

// CPUSeconds returns the user plus system CPU time the process has used so
// far, in seconds, from /proc/PID/stat (its own threads only, not its
// children's), or -1 when it cannot be read.
func CPUSeconds(pid int) float64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// fields are counted after its closing one.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return -1
	}
	f := bytes.Fields(data[i+1:])
	// After the name: state is field 3, utime field 14, stime field 15.
	if len(f) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return float64(utime+stime) / clockTicks
}
