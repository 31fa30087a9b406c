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
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/switchboard-go/switchboard"
	"github.com/switchboard-go/switchboard/examples/bench"
)

func main() {
	if dir := os.Getenv("BENCH_HEAP_DIR"); dir != "" {
		runtime.MemProfileRate = 1 << 10 // a sample per KiB allocated, not per 512 KiB
		go dumpOnSignal(dir)
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
