//go:build !linux

// Command sbbench needs Linux: its clients are driven by epoll.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "sbbench: runs on Linux only (its clients are driven by epoll)")
	os.Exit(1)
}
