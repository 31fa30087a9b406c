package gateway_test

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"

	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

// dialDeflate asks for permessage-deflate and reports whether the gateway
// accepted it.
func dialDeflate(t *testing.T, g *gateway.Gateway) (net.Conn, bool) {
	t.Helper()
	params := wsflate.Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
	d := ws.Dialer{Extensions: []httphead.Option{params.Option()}, Timeout: 5 * time.Second}
	c, hs, err := sbtest.DialHandshake(t.Context(), d, "ws://"+g.Addr().String()+"/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, e := range hs.Extensions {
		if bytes.Equal(e.Name, wsflate.ExtensionNameBytes) {
			return c, true
		}
	}
	return c, false
}

func writeCompressed(t *testing.T, c net.Conn, payload []byte) {
	t.Helper()
	f, err := wsflate.CompressFrame(ws.NewTextFrame(payload))
	if err != nil {
		t.Fatal(err)
	}
	writeRaw(t, c, f, true)
}

func TestPermessageDeflate(t *testing.T) {
	g := start(t, gateway.Compression(true))
	c, ok := dialDeflate(t, g)
	if !ok {
		t.Fatal("the gateway did not accept permessage-deflate")
	}
	big := strings.Repeat("switchboard ", 100)
	writeCompressed(t, c, []byte(big))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := ws.ReadFrame(c)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Header.Rsv1() || int(f.Header.Length) >= len(big) {
		t.Fatalf("echo of %d bytes came back uncompressed (%d bytes, rsv1 %v)", len(big), f.Header.Length, f.Header.Rsv1())
	}
	plain, err := wsflate.DecompressFrame(f)
	if err != nil || string(plain.Payload) != big {
		t.Fatalf("decompressed echo differs: %v", err)
	}
	writeRaw(t, c, ws.NewTextFrame([]byte("small")), true) // uncompressed messages still work
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if f, err := ws.ReadFrame(c); err != nil || string(f.Payload) != "small" || f.Header.Rsv1() {
		t.Fatalf("small echo: %q %v", f.Payload, err)
	}
}

func TestDeflateBombIsRefused(t *testing.T) {
	g := start(t, gateway.Compression(true), gateway.MaxMessageBytes(64<<10))
	c, _ := dialDeflate(t, g)
	writeCompressed(t, c, make([]byte, 10<<20)) // 10 MiB of zeros, ~10 KiB compressed
	expectClose(t, c, ws.StatusMessageTooBig)
}

func TestDeflateIsOffByDefault(t *testing.T) {
	g := start(t)
	c, ok := dialDeflate(t, g)
	if ok {
		t.Fatal("permessage-deflate accepted although compression is off")
	}
	writeCompressed(t, c, []byte(strings.Repeat("x", 200)))
	expectClose(t, c, ws.StatusProtocolError)
}
