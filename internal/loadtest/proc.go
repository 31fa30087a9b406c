//go:build linux

package loadtest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// clockTick is the unit of utime/stime in /proc/PID/stat on Linux.
const clockTick = 10 * time.Millisecond

// cpuOf returns the user+system CPU a process (all its threads, live and
// exited) has used, in nanoseconds from the process's CPU clock, or in
// clock ticks from /proc when that clock cannot be read. At a light load a
// run's server CPU is a few hundred milliseconds, where a 10 ms tick is
// too coarse.
func cpuOf(pid int) (time.Duration, error) {
	if pid > 0 && pid < 1<<28 { // the clock id has room for 28 bits of pid
		var ts unix.Timespec
		// The process-wide CPUCLOCK_SCHED clock of pid, as
		// clock_getcpuclockid(3) makes it: (^pid << 3) | 2.
		if err := unix.ClockGettime(int32((^pid)<<3|2), &ts); err == nil {
			return time.Duration(ts.Nano()), nil
		}
	}
	return cpuOfStat(pid)
}

// cpuOfStat returns the user+system CPU of a process from /proc/PID/stat,
// in clock ticks.
func cpuOfStat(pid int) (time.Duration, error) {
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

// WithDescendants returns pids followed by every descendant process of
// each (children, their children, ...), each pid once: the worker child
// processes that "switchboard start" runs (worker.processes > 0) are
// children of the gateway's process. Children are read from
// /proc/PID/task/TID/children; a pid that does not exist is an error.
func WithDescendants(pids []int) ([]int, error) {
	seen := map[int]bool{}
	var out []int
	queue := slices.Clone(pids)
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		out = append(out, pid)
		kids, err := childrenOf(pid)
		if err != nil {
			return nil, err
		}
		queue = append(queue, kids...)
	}
	return out, nil
}

// childrenOf returns the child processes of pid.
func childrenOf(pid int) ([]int, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("children of pid %d: %w", pid, err)
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/children")
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread has just ended
		}
		if err != nil {
			return nil, fmt.Errorf("children of pid %d: %w", pid, err)
		}
		for _, f := range strings.Fields(string(b)) {
			kid, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("children of pid %d: %q is not a pid", pid, f)
			}
			out = append(out, kid)
		}
	}
	return out, nil
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
