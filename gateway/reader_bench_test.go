package gateway

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/gobwas/ws"
)

// mibFrame is a masked binary frame of 1 MiB, as a client sends it.
func mibFrame(tb testing.TB) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := ws.WriteFrame(&b, ws.MaskFrameInPlace(ws.NewBinaryFrame(bytes.Repeat([]byte("0123456789abcdef"), 1<<16)))); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// readInPieces feeds frame to r in reads of readSize bytes, as the netpoll
// reader does with what each read returned, and releases the message.
func readInPieces(tb testing.TB, r *wsReader, pools *eventPools, frame []byte, readSize int) {
	var msg *pendingEvent
	for p := frame; len(p) > 0; {
		read := p[:min(readSize, len(p))]
		p = p[len(read):]
		for len(read) > 0 {
			n, _, ev, err := r.feed(read, pools)
			if err != nil {
				tb.Fatal(err)
			}
			read = read[n:]
			if ev != nil {
				msg = ev
			}
		}
	}
	if msg == nil || len(msg.data) != 1<<20 {
		tb.Fatal("no 1 MiB message")
	}
	msg.release()
}

func benchmarkRead1MiB(b *testing.B, readSize int) {
	frame := mibFrame(b)
	r := wsReader{limit: 2 << 20}
	pools := newEventPools()
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		readInPieces(b, &r, pools, frame, readSize)
	}
}

// BenchmarkRead1MiBInOneRead and BenchmarkRead1MiBIn4KiBReads: a 1 MiB
// message costs about the same however many reads bring it (the parser
// keeps its place; the buffer at most doubles as bytes arrive).
func BenchmarkRead1MiBInOneRead(b *testing.B)   { benchmarkRead1MiB(b, 2<<20) }
func BenchmarkRead1MiBIn4KiBReads(b *testing.B) { benchmarkRead1MiB(b, 4<<10) }

// TestReadIn4KiBReadsIsLinear: reading a 1 MiB message in 4 KiB reads
// allocates at most about twice what one read does (the buffer doubles as
// bytes arrive), not once per read as when every read parsed the frame
// from its start again. Bytes allocated stand for the work, as they
// do not depend on the machine's load; the benchmarks above give times.
func TestReadIn4KiBReadsIsLinear(t *testing.T) {
	frame := mibFrame(t)
	pools := newEventPools()
	allocated := func(readSize int) uint64 {
		r := wsReader{limit: 2 << 20}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 10 {
			readInPieces(t, &r, pools, frame, readSize)
		}
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / 10
	}
	one, pieces := allocated(len(frame)), allocated(4<<10)
	t.Logf("1 MiB message: %d bytes allocated in one read, %d in 4 KiB reads", one, pieces)
	if float64(pieces) > 2.2*float64(one) {
		t.Errorf("4 KiB reads allocate %d bytes for a 1 MiB message, over 2.2 times the %d of one read", pieces, one)
	}
}
