package wire

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
)

const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// GatewayIDLen is the length of a gateway id.
const GatewayIDLen = 10

// NewGatewayID returns a fresh random gateway id: 10 characters of
// [a-z2-7] (50 random bits), unique across the cluster and across restarts
// for all practical purposes.
func NewGatewayID() string {
	var b [GatewayIDLen]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux.
	for i := range b {
		b[i] = idAlphabet[b[i]&31]
	}
	return string(b[:])
}

// ClientID builds the id of the seq-th connection of a gateway:
// "<gatewayID>-<seq in base 36>". The gateway is routable from the id alone.
func ClientID(gatewayID string, seq uint64) string {
	return gatewayID + "-" + strconv.FormatUint(seq, 36)
}

// AppendClientID appends ClientID(gatewayID, seq) to b.
func AppendClientID(b []byte, gatewayID string, seq uint64) []byte {
	b = append(b, gatewayID...)
	b = append(b, '-')
	return strconv.AppendUint(b, seq, 36)
}

// ValidGatewayID reports whether id has the form NewGatewayID gives.
func ValidGatewayID(id string) bool {
	if len(id) != GatewayIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !strings.ContainsRune(idAlphabet, rune(id[i])) {
			return false
		}
	}
	return true
}

// ParseClientID splits a client id into its gateway id and sequence number.
func ParseClientID(id string) (gatewayID string, seq uint64, err error) {
	gw, s, ok := strings.Cut(id, "-")
	if !ok || !ValidGatewayID(gw) || s == "" {
		return "", 0, fmt.Errorf("client id %q: %w", id, ErrInvalidClientID)
	}
	seq, err = strconv.ParseUint(s, 36, 64)
	if err != nil {
		return "", 0, fmt.Errorf("client id %q: %w", id, ErrInvalidClientID)
	}
	return gw, seq, nil
}
