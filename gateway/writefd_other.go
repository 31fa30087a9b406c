//go:build !unix

package gateway

// writeFD writes nothing where there is no writev on a descriptor
// (Windows): the connection's flusher writes through net.Conn instead.
func writeFD(int, [][]byte) (int, error) { return 0, nil }
