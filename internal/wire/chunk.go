package wire

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
)

// MaxAnswerParts bounds the parts of one gateway's query answer an asker
// accepts; a larger announced count is refused as malformed.
const MaxAnswerParts = 1 << 20

// partHeaderRoom is what an Sb-Part line may take in a message's header
// (its largest value is MaxAnswerParts/MaxAnswerParts).
var partHeaderRoom = len(HdrPart) + len(": ") + 2*len(strconv.Itoa(MaxAnswerParts)) + len("/\r\n")

// ErrAnswerTooLarge: a query answer cannot be split into parts that fit the
// server's max_payload.
var ErrAnswerTooLarge = errors.New("query answer does not fit max_payload")

// HeaderSize returns how many bytes h takes in a NATS message (the
// NATS/1.0 line, each value on its own line, and the closing blank line):
// the payload and this together must fit the server's max_payload.
func HeaderSize(h nats.Header) int {
	if len(h) == 0 {
		return 0
	}
	n := len("NATS/1.0\r\n") + len("\r\n")
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(": ") + len(v) + len("\r\n")
		}
	}
	return n
}

// SplitAnswer cuts an answer body into parts that each fit maxPayload
// bytes together with hdr and an Sb-Part header. A body that fits whole
// with hdr is one part (send it without Sb-Part). The parts share data's
// memory.
func SplitAnswer(maxPayload int64, hdr nats.Header, data []byte) ([][]byte, error) {
	room := maxPayload - int64(HeaderSize(hdr))
	if int64(len(data)) <= room {
		return [][]byte{data}, nil
	}
	room -= int64(partHeaderRoom)
	if room < 64 {
		return nil, fmt.Errorf("%d bytes, max_payload %d, headers %d bytes: %w", len(data), maxPayload, HeaderSize(hdr), ErrAnswerTooLarge)
	}
	n := (int64(len(data)) + room - 1) / room
	if n > MaxAnswerParts {
		return nil, fmt.Errorf("%d bytes in parts of %d bytes is more than %d parts: %w", len(data), room, MaxAnswerParts, ErrAnswerTooLarge)
	}
	parts := make([][]byte, 0, n)
	for len(data) > 0 {
		k := min(int64(len(data)), room)
		parts = append(parts, data[:k:k])
		data = data[k:]
	}
	return parts, nil
}

// PartValue is the Sb-Part value of part i (1-based) of n.
func PartValue(i, n int) string { return strconv.Itoa(i) + "/" + strconv.Itoa(n) }

// ParsePart parses an Sb-Part value; "" is a whole answer (1 of 1).
func ParsePart(v string) (i, n int, err error) {
	if v == "" {
		return 1, 1, nil
	}
	a, b, ok := strings.Cut(v, "/")
	if ok {
		i, err = strconv.Atoi(a)
		if err == nil {
			n, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || i < 1 || n < i || n > MaxAnswerParts {
		return 0, 0, fmt.Errorf("malformed %s %q", HdrPart, v)
	}
	return i, n, nil
}

// Assembly gathers the parts of one gateway's answer.
type Assembly struct {
	parts [][]byte
	got   int
	first *nats.Msg
}

// Add records m, part i of n; it returns the whole answer once every part
// is in (the first part's headers, the parts' bodies joined in order).
func (a *Assembly) Add(m *nats.Msg, i, n int) (*nats.Msg, error) {
	if a.parts == nil {
		a.parts = make([][]byte, n)
	}
	if len(a.parts) != n {
		return nil, fmt.Errorf("part %d/%d of an answer announced as %d parts", i, n, len(a.parts))
	}
	if a.parts[i-1] != nil {
		return nil, nil // a duplicate: ignore
	}
	if i == 1 {
		a.first = m
	}
	a.parts[i-1] = m.Data
	if a.parts[i-1] == nil {
		a.parts[i-1] = []byte{}
	}
	a.got++
	if a.got < n {
		return nil, nil
	}
	size := 0
	for _, p := range a.parts {
		size += len(p)
	}
	data := make([]byte, 0, size)
	for _, p := range a.parts {
		data = append(data, p...)
	}
	return &nats.Msg{Subject: a.first.Subject, Header: a.first.Header, Data: data}, nil
}

// Progress says how many parts arrived, for an error message.
func (a *Assembly) Progress() string {
	return strconv.Itoa(a.got) + " of " + strconv.Itoa(len(a.parts)) + " parts"
}
