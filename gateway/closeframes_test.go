package gateway_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/gobwas/ws"

	"github.com/switchboard-go/switchboard/internal/sbtest"
)

// TestCloseFramesAreValidated: RFC 6455 §5.5.1 and §7.4. A close frame
// with a code a peer must not send (0, 999, 1004-1006, 1015, unassigned
// 1016-2999, 5000 and over) or of one byte gets close 1002; invalid UTF-8
// in its reason gets 1007; a valid one is echoed.
func TestCloseFramesAreValidated(t *testing.T) {
	g := start(t)
	body := func(code uint16, reason string) []byte {
		return append(binary.BigEndian.AppendUint16(nil, code), reason...)
	}
	cases := []struct {
		name    string
		payload []byte
		want    ws.StatusCode
	}{
		{"one byte", []byte{0x03}, ws.StatusProtocolError},
		{"invalid UTF-8 in the reason", body(1000, "\xff\xfe"), ws.StatusInvalidFramePayloadData},
		{"empty", nil, 0},
		{"1000", body(1000, "bye"), 1000},
		{"1003", body(1003, ""), 1003},
		{"1007", body(1007, ""), 1007},
		{"1014", body(1014, ""), 1014},
		{"3000", body(3000, ""), 3000},
		{"4999", body(4999, "é"), 4999},
	}
	for _, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535} {
		cases = append(cases, struct {
			name    string
			payload []byte
			want    ws.StatusCode
		}{fmt.Sprint("code ", code), body(code, ""), ws.StatusProtocolError})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := sbtest.Dial(t, g, "/")
			writeRaw(t, c.Conn, ws.NewCloseFrame(tc.payload), true)
			if tc.want == 0 {
				expectCloseBody(t, c)
				return
			}
			expectClose(t, c.Conn, tc.want)
		})
	}
}

// expectCloseBody reads up to the close frame and checks it has no body.
func expectCloseBody(t *testing.T, c *sbtest.WS) {
	t.Helper()
	for {
		f, err := ws.ReadFrame(c.Conn)
		if err != nil {
			t.Fatalf("want a close frame: %v", err)
		}
		if f.Header.OpCode == ws.OpClose {
			if len(f.Payload) != 0 {
				t.Fatalf("close body %q, want none", f.Payload)
			}
			return
		}
	}
}

// TestNonMinimalLengthsAreRefused: a 16-bit length under 126 and a 64-bit
// length under 65,536 or with its top bit set get close 1002 (RFC 6455
// §5.2: the minimal number of bytes must be used).
func TestNonMinimalLengthsAreRefused(t *testing.T) {
	g := start(t)
	mask := []byte{1, 2, 3, 4}
	cases := map[string][]byte{
		"16-bit length 5":       append(append([]byte{0x81, 0x80 | 126, 0, 5}, mask...), "hello"...),
		"16-bit length 125":     append([]byte{0x82, 0x80 | 126, 0, 125}, mask...),
		"64-bit length 5":       append(append(binary.BigEndian.AppendUint64([]byte{0x81, 0x80 | 127}, 5), mask...), "hello"...),
		"64-bit length 65,535":  append(binary.BigEndian.AppendUint64([]byte{0x82, 0x80 | 127}, 65535), mask...),
		"64-bit length top bit": append(binary.BigEndian.AppendUint64([]byte{0x82, 0x80 | 127}, 1<<63|1<<20), mask...),
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			c := sbtest.Dial(t, g, "/")
			if _, err := c.Conn.Write(raw); err != nil {
				t.Fatal(err)
			}
			expectClose(t, c.Conn, ws.StatusProtocolError)
		})
	}
	ok := sbtest.Dial(t, g, "/")
	ok.Send("minimal lengths still work")
	ok.Expect("minimal lengths still work")
}
