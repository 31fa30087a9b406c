//go:build linux

package loadtest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// clockTick is the unit of utime/stime in /proc/PID/stat on Linux.
const clockTick = 10 * time.Millisecond

// cpuOf returns the user+system CPU a process has used.
func cpuOf(pid int) (time.Duration, error) {
	path := "/proc/self/stat"
	if pid > 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/stat"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("cpu of pid %d: %w", pid, err)
	}
	// Fields after the command name, which may contain spaces: ") S ppid ...".
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("%s: short stat line", path)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%s: bad cpu fields", path)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// cpuOfAll sums cpuOf over pids.
func cpuOfAll(pids []int) (time.Duration, error) {
	var total time.Duration
	for _, pid := range pids {
		c, err := cpuOf(pid)
		if err != nil {
			return 0, err
		}
		total += c
	}
	return total, nil
}

// rssOf returns the resident memory of a process in bytes (VmRSS).
func rssOf(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("rss of pid %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("pid %d: VmRSS: %w", pid, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("pid %d: no VmRSS", pid)
}

// rssOfAll sums rssOf over pids.
func rssOfAll(pids []int) (int64, error) {
	var total int64
	for _, pid := range pids {
		r, err := rssOf(pid)
		if err != nil {
			return 0, err
		}
		total += r
	}
	return total, nil
}

// selfCPU returns the user+system CPU this process has used, at
// microsecond resolution (getrusage) rather than the clock ticks of
// /proc/self/stat.
func selfCPU() (time.Duration, error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// threadCPU returns the CPU the calling OS thread has used, in
// nanoseconds; the caller locks its goroutine to the thread.
func threadCPU() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, fmt.Errorf("clock_gettime: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}

// meter measures the CPU of the server processes and of this tool over a
// phase.
type meter struct {
	pids           []int
	server0, self0 time.Duration
}

func startMeter(pids []int) (*meter, error) {
	m := &meter{pids: pids}
	var err error
	if m.server0, err = cpuOfAll(pids); err != nil {
		return nil, err
	}
	if m.self0, err = selfCPU(); err != nil {
		return nil, err
	}
	return m, nil
}

// perOp returns server and own CPU per operation since startMeter, in
// microseconds; server is 0 without pids.
func (m *meter) perOp(ops int64) (server, self float64, err error) {
	if ops <= 0 {
		return 0, 0, nil
	}
	s, err := cpuOfAll(m.pids)
	if err != nil {
		return 0, 0, err
	}
	me, err := selfCPU()
	if err != nil {
		return 0, 0, err
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(ops) }
	return us(s - m.server0), us(me - m.self0), nil
}
