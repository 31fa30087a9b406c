package gateway

import (
	"testing"
	"unsafe"
)

// TestConnHotFieldsShareACacheLine: the fields a broadcast touches for
// every member stay within the first 64 bytes of a conn (conn.go). A conn
// is allocated in a size class that is a multiple of 64 bytes, so those
// bytes are one cache line.
func TestConnHotFieldsShareACacheLine(t *testing.T) {
	var c conn
	if end := unsafe.Offsetof(c.g) + unsafe.Sizeof(c.g); end > 64 {
		t.Errorf("the fan-out's fields of a conn end at byte %d, past the first cache line", end)
	}
	// Every size class above 512 bytes is a multiple of 64; below, some
	// are not (480, 416, …).
	if size := unsafe.Sizeof(c); size <= 512 {
		t.Errorf("conn is %d bytes: check that its size class is a multiple of 64, then this test", size)
	}
}
