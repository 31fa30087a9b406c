// Command benchserver runs Switchboard with the bench-protocol worker:
//
//	go run ./examples/bench/cmd/benchserver start --listen ws://127.0.0.1:8282
//
// With BENCH_HEAP_DIR set, each SIGUSR1 writes, in that directory,
// mem-N.json (runtime.MemStats before and after a forced GC) and
// heap-N.pb.gz (the heap profile after it, for go tool pprof): a way to see
// where the gateway's memory goes at a given moment of a run. Only the
// process signalled writes them (send it to the gateway's pid). The heap
// is then sampled every KiB allocated instead of every 512 KiB, which
// costs CPU: do not measure speed with it.
//
// With BENCH_PROFILE_DIR set, each SIGUSR2 records a CPU profile and an
// execution trace of the process signalled for BENCH_PROFILE_SECONDS (5 by
// default): cpu-PID-N.pb.gz and trace-PID-N.out in that directory. The
// worker child processes inherit the setting, so a round trip can be
// traced in both processes at once (send the signal to each pid).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"syscall"
	"time"

	"github.com/switchboard-go/switchboard"
	"github.com/switchboard-go/switchboard/examples/bench"
)

func main() {
	if dir := os.Getenv("BENCH_HEAP_DIR"); dir != "" {
		runtime.MemProfileRate = 1 << 10 // a sample per KiB allocated, not per 512 KiB
		go dumpOnSignal(dir)
	}
	if dir := os.Getenv("BENCH_PROFILE_DIR"); dir != "" {
		go profileOnSignal(dir)
	}
	switchboard.Main(bench.Events{})
}

// dumpOnSignal writes a memory snapshot at each SIGUSR1, for the life of
// the process.
func dumpOnSignal(dir string) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	for n := 1; ; n++ {
		<-sig
		if err := dump(dir, n); err != nil {
			fmt.Fprintln(os.Stderr, "benchserver: memory snapshot:", err)
		}
	}
}

// memStats is the part of runtime.MemStats that splits the RSS.
type memStats struct {
	HeapAlloc, HeapInuse, HeapIdle, HeapReleased, StackInuse, Sys, NumGC uint64
	Goroutines                                                           int
}

func readMem() memStats {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memStats{HeapAlloc: m.HeapAlloc, HeapInuse: m.HeapInuse, HeapIdle: m.HeapIdle, HeapReleased: m.HeapReleased,
		StackInuse: m.StackInuse, Sys: m.Sys, NumGC: uint64(m.NumGC), Goroutines: runtime.NumGoroutine()}
}

// dump writes snapshot n: MemStats as they are, then after a forced GC,
// and the heap profile.
func dump(dir string, n int) error {
	before := readMem()
	runtime.GC()
	after := readMem()
	b, err := json.Marshal(map[string]memStats{"before_gc": before, "after_gc": after})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("mem-%d.json", n)), append(b, '\n'), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("heap-%d.pb.gz", n)))
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// profileOnSignal records a CPU profile and an execution trace at each
// SIGUSR2, for the life of the process.
func profileOnSignal(dir string) {
	secs, err := strconv.Atoi(os.Getenv("BENCH_PROFILE_SECONDS"))
	if err != nil || secs <= 0 {
		secs = 5
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR2)
	for n := 1; ; n++ {
		<-sig
		if err := profile(dir, n, time.Duration(secs)*time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "benchserver: profile:", err)
		}
	}
}

// profile writes profile n: CPU and execution trace over d.
func profile(dir string, n int, d time.Duration) error {
	name := func(kind, ext string) string {
		return filepath.Join(dir, fmt.Sprintf("%s-%d-%d.%s", kind, os.Getpid(), n, ext))
	}
	cf, err := os.Create(name("cpu", "pb.gz"))
	if err != nil {
		return err
	}
	defer cf.Close()
	tf, err := os.Create(name("trace", "out"))
	if err != nil {
		return err
	}
	defer tf.Close()
	if err := pprof.StartCPUProfile(cf); err != nil {
		return err
	}
	if err := trace.Start(tf); err != nil {
		pprof.StopCPUProfile()
		return err
	}
	time.Sleep(d)
	trace.Stop()
	pprof.StopCPUProfile()
	if err := tf.Close(); err != nil {
		return err
	}
	return cf.Close()
}
