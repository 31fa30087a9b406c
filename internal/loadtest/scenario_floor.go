//go:build linux

package loadtest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// floorSize is the message size of the floor measurements.
const floorSize = 64

// FloorResult is the CPU cost of raw 64-byte loopback TCP I/O on this
// machine, the reference other results are stated against. All values are
// user+system CPU in microseconds.
type FloorResult struct {
	Writes int `json:"writes"`
	// WriteCPUus is this process's CPU per write(2) of 64 bytes while the
	// receiver drains in 1 MiB reads.
	WriteCPUus float64 `json:"write_cpu_us"`
	// WriteSyscallUs is the writing thread's share of WriteCPUus: the
	// system call alone, including the loopback delivery it performs.
	WriteSyscallUs float64 `json:"write_syscall_cpu_us"`
	// ReadCPUus is the reading thread's CPU per read(2) of at most 64
	// bytes when the reader is woken for each message.
	ReadCPUus float64 `json:"read_cpu_us"`
	// WriteReadCPU is this process's CPU per 64-byte write read by a
	// reader woken per message: one write, one read and the wake-up.
	WriteReadCPU float64 `json:"write_read_cpu_us"`
}

// RunFloor measures writes 64-byte writes over a loopback TCP connection
// twice: drained in bulk, then read 64 bytes at a time (default 200,000).
func RunFloor(writes int) (FloorResult, error) {
	if writes <= 0 {
		writes = 200_000
	}
	bulk, err := floorPhase(writes, 1<<20)
	if err != nil {
		return FloorResult{}, fmt.Errorf("floor: bulk reader: %w", err)
	}
	each, err := floorPhase(writes, floorSize)
	if err != nil {
		return FloorResult{}, fmt.Errorf("floor: 64-byte reader: %w", err)
	}
	return FloorResult{Writes: writes, WriteCPUus: bulk.process, WriteSyscallUs: bulk.writer,
		ReadCPUus: each.reader, WriteReadCPU: each.process}, nil
}

// floorCost is one phase: process and writer CPU per write, reader CPU
// per read, in microseconds.
type floorCost struct{ process, writer, reader float64 }

type readerCost struct {
	cpu   time.Duration
	reads int
	err   error
}

func floorPhase(writes, readSize int) (floorCost, error) {
	wfd, rfd, err := loopbackPair()
	if err != nil {
		return floorCost{}, err
	}
	defer unix.Close(wfd)
	defer unix.Close(rfd)
	out := make(chan readerCost, 1)
	go func() { out <- readAll(rfd, writes*floorSize, readSize) }()

	p0, err := selfCPU()
	if err != nil {
		_ = unix.Shutdown(rfd, unix.SHUT_RDWR)
		<-out
		return floorCost{}, err
	}
	writer, werr := writeEach(wfd, writes)
	if werr != nil {
		_ = unix.Shutdown(rfd, unix.SHUT_RDWR) // wakes the reader
	}
	rc := <-out
	if err := errors.Join(werr, rc.err); err != nil {
		return floorCost{}, err
	}
	p1, err := selfCPU()
	if err != nil {
		return floorCost{}, err
	}
	us := func(d time.Duration, n int) float64 {
		return float64(d) / float64(time.Microsecond) / float64(max(n, 1))
	}
	return floorCost{process: us(p1-p0, writes), writer: us(writer, writes), reader: us(rc.cpu, rc.reads)}, nil
}

// writeEach writes n 64-byte messages one write(2) each on a locked
// thread and returns that thread's CPU.
func writeEach(fd, n int) (time.Duration, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	msg := make([]byte, floorSize)
	t0, err := threadCPU()
	if err != nil {
		return 0, err
	}
	for range n {
		for b := msg; len(b) > 0; {
			k, err := unix.Write(fd, b)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return 0, fmt.Errorf("write: %w", err)
			}
			b = b[k:]
		}
	}
	t1, err := threadCPU()
	return t1 - t0, err
}

// readAll reads total bytes with reads of at most size on a locked thread
// and returns that thread's CPU and the number of reads.
func readAll(fd, total, size int) readerCost {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	buf := make([]byte, size)
	t0, err := threadCPU()
	if err != nil {
		return readerCost{err: err}
	}
	got, reads := 0, 0
	for got < total {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return readerCost{err: fmt.Errorf("read: %w", err)}
		}
		if n == 0 {
			return readerCost{err: fmt.Errorf("read: %w", io.ErrUnexpectedEOF)}
		}
		got += n
		reads++
	}
	t1, err := threadCPU()
	return readerCost{cpu: t1 - t0, reads: reads, err: err}
}

// loopbackPair returns the two ends of a loopback TCP connection as
// blocking descriptors outside the Go runtime's poller.
func loopbackPair() (w, r int, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return -1, -1, fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return -1, -1, fmt.Errorf("dial: %w", err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		return -1, -1, fmt.Errorf("accept: %w", err)
	}
	defer server.Close()
	if w, err = blockingDup(client); err != nil {
		return -1, -1, err
	}
	if r, err = blockingDup(server); err != nil {
		_ = unix.Close(w)
		return -1, -1, err
	}
	return w, r, nil
}

// blockingDup duplicates the descriptor of c in blocking mode.
func blockingDup(c net.Conn) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("%T is not a socket", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("syscall conn: %w", err)
	}
	fd, dupErr := -1, error(nil)
	if err := raw.Control(func(f uintptr) { fd, dupErr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, fmt.Errorf("control: %w", err)
	}
	if dupErr != nil {
		return -1, fmt.Errorf("dup: %w", dupErr)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("set blocking: %w", err)
	}
	return fd, nil
}
