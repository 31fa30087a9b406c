package loadtest

import (
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
)

// FloorResult is the CPU cost of raw loopback I/O on this machine.
type FloorResult struct {
	Writes       int     `json:"writes"`
	WriteCPUus   float64 `json:"write_cpu_us"`      // one 64-byte write, the receiver draining in bulk
	WriteReadCPU float64 `json:"write_read_cpu_us"` // one 64-byte write and one 64-byte read by a woken reader
}

// RunFloor measures raw 64-byte loopback writes, then writes each read by
// a reader that wakes per message.
func RunFloor(writes int) (FloorResult, error) {
	bulk, err := floorPhase(writes, 1<<20)
	if err != nil {
		return FloorResult{}, err
	}
	each, err := floorPhase(writes, 64)
	if err != nil {
		return FloorResult{}, err
	}
	return FloorResult{Writes: writes, WriteCPUus: bulk, WriteReadCPU: each}, nil
}

func floorPhase(writes, readSize int) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		return 0, err
	}
	defer server.Close()
	total := writes * 64
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, readSize)
		read := 0
		for read < total {
			n, err := server.Read(buf)
			if err != nil && err != io.EOF {
				done <- err
				return
			}
			read += n
		}
		done <- nil
	}()
	fd, err := rawFD(client)
	if err != nil {
		return 0, err
	}
	msg := make([]byte, 64)
	before, err := cpuOf(0)
	if err != nil {
		return 0, err
	}
	for range writes {
		for {
			_, err := syscall.Write(fd, msg)
			if err == syscall.EAGAIN {
				time.Sleep(50 * time.Microsecond)
				continue
			}
			if err != nil {
				return 0, fmt.Errorf("write: %w", err)
			}
			break
		}
	}
	if err := <-done; err != nil {
		return 0, err
	}
	after, err := cpuOf(0)
	if err != nil {
		return 0, err
	}
	return float64(after-before) / float64(time.Microsecond) / float64(writes), nil
}
