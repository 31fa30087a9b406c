package gateway_test

import (
	"crypto/tls"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

// dialWSS connects over TLS and returns the connection and the serial
// number of the certificate the gateway showed.
func dialWSS(t *testing.T, addr string) (net.Conn, int64) {
	t.Helper()
	var serial int64
	d := ws.Dialer{TLSConfig: &tls.Config{
		InsecureSkipVerify: true, // self-signed; the serial is checked instead
		VerifyConnection: func(cs tls.ConnectionState) error {
			serial = cs.PeerCertificates[0].SerialNumber.Int64()
			return nil
		},
	}, Timeout: 5 * time.Second}
	c, err := sbtest.DialWith(t.Context(), d, addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c, serial
}

func echoOver(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if err := wsutil.WriteClientText(c, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := wsutil.ReadServerText(c)
	if err != nil || string(b) != msg {
		t.Fatalf("echo over TLS: %q, %v", b, err)
	}
}

func TestWSSAndCertificateReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := sbtest.WriteCert(t, dir, 1)
	g := start(t, gateway.Listen("wss://127.0.0.1:0", "ws://127.0.0.1:0"), gateway.TLSFiles(certFile, keyFile))
	addr := g.Addrs()[0]
	if !strings.HasPrefix(addr, "wss://") {
		t.Fatalf("first listener %s, want wss", addr)
	}
	old, serial := dialWSS(t, addr)
	if serial != 1 {
		t.Fatalf("certificate serial %d, want 1", serial)
	}
	echoOver(t, old, "before reload")

	sbtest.WriteCert(t, dir, 2)
	if err := g.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	fresh, serial := dialWSS(t, addr)
	if serial != 2 {
		t.Fatalf("after reload the certificate serial is %d, want 2", serial)
	}
	echoOver(t, fresh, "new cert")
	echoOver(t, old, "old connection survives the reload")

	if err := os.WriteFile(certFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.ReloadTLS(); err == nil {
		t.Fatal("ReloadTLS accepted a broken certificate file")
	}
	_, serial = dialWSS(t, addr)
	if serial != 2 {
		t.Fatalf("a failed reload replaced the certificate (serial %d)", serial)
	}
}

func TestWSSNeedsCertificateFiles(t *testing.T) {
	ns := sbtest.NATS(t)
	nc := sbtest.Conn(t, ns.ClientURL())
	g, err := gateway.New(nc, gateway.Listen("wss://127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "cert") {
		t.Fatalf("Start without certificate files: %v, want an error naming the certificate", err)
	}
}

func TestRateLimit(t *testing.T) {
	g := start(t, gateway.RateLimit(5, 5))
	c := sbtest.Dial(t, g, "/")
	for range 5 {
		c.Send("m")
		c.Expect("m")
	}
	for range 20 {
		_ = wsutil.WriteClientText(c.Conn, []byte("flood"))
	}
	expectClose(t, c.Conn, ws.StatusPolicyViolation)
}
