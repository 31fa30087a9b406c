//go:build unix

package gateway

import "golang.org/x/sys/unix"

// writeFD writes frames to the socket descriptor fd with one system call.
func writeFD(fd int, frames [][]byte) (int, error) {
	if len(frames) == 1 {
		return unix.Write(fd, frames[0])
	}
	return unix.Writev(fd, frames)
}
