package main

import (
	"strings"
	"testing"
)

func TestRefusesRemoteTarget(t *testing.T) {
	err := run("echo", []string{"-url", "ws://192.0.2.1:8282/ws", "-d", "1s"})
	if err == nil || !strings.Contains(err.Error(), "not loopback") {
		t.Fatalf("remote target: %v", err)
	}
}

func TestParsePIDs(t *testing.T) {
	pids, err := parsePIDs(" 12, 34,,")
	if err != nil || len(pids) != 2 || pids[0] != 12 || pids[1] != 34 {
		t.Fatalf("pids %v: %v", pids, err)
	}
	if _, err := parsePIDs("12,x"); err == nil {
		t.Fatal("bad pid accepted")
	}
}
