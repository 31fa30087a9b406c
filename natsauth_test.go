package switchboard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/switchboard-go/switchboard/natsserver"
)

// TestEmbeddedNATSTakesTheAuthKeys starts the laptop roles (embedded NATS,
// gateway, worker) with each kind of authentication: every role connects
// with it (a client's echo goes through), a connection without it is
// refused, and "status" and "connections" work with the same config file.
func TestEmbeddedNATSTakesTheAuthKeys(t *testing.T) {
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := user.Seed()
	seedFile := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		set  func(*NATSConfig)
		yaml string
	}{
		{"token", func(c *NATSConfig) { c.Token = "s3cret-token" }, "  token: s3cret-token\n"},
		{"user and password", func(c *NATSConfig) { c.User, c.Password = "sb", "s3cret" }, "  user: sb\n  password: s3cret\n"},
		{"nkey", func(c *NATSConfig) { c.NkeySeedFile = seedFile }, "  nkey_seed_file: " + seedFile + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadConfig("")
			if err != nil {
				t.Fatal(err)
			}
			cfg.NATS.Port = -1
			cfg.Gateway.Listen = []string{"ws://127.0.0.1:0"}
			cfg.Log.Level = "error"
			tc.set(&cfg.NATS)
			n, err := Start(context.Background(), echoEvents{}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer n.Stop(context.Background())

			// The gateway and the worker got in: an echo goes round.
			c, _, _, err := ws.Dial(context.Background(), "ws://"+n.GatewayAddr().String()+"/")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			expectEcho(t, c, "hi", 5*time.Second)

			// Anyone else needs the same credentials.
			if nc, err := nats.Connect(n.NATSURL(), nats.MaxReconnects(0)); err == nil {
				nc.Close()
				t.Fatal("a connection without credentials was accepted")
			} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
				t.Fatalf("connection without credentials: %v; want an authorization error", err)
			}
			opts, err := cfg.NATS.ConnectOptions()
			if err != nil {
				t.Fatal(err)
			}
			nc, err := nats.Connect(n.NATSURL(), opts...)
			if err != nil {
				t.Fatalf("connection with the configured credentials: %v", err)
			}
			nc.Close()

			// status and connections read the same keys from the file.
			_, port, _ := net.SplitHostPort(strings.TrimPrefix(n.NATSURL(), "nats://"))
			file := filepath.Join(t.TempDir(), "sb.yaml")
			body := fmt.Sprintf("nats:\n  port: %s\n%s", port, tc.yaml)
			if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, cmd := range []string{"status", "connections"} {
				if code := RunArgs(context.Background(), []string{cmd, "-c", file}, nil); code != 0 {
					t.Errorf("%s with the credentials: exit %d", cmd, code)
				}
			}
			open := filepath.Join(t.TempDir(), "open.yaml")
			if err := os.WriteFile(open, []byte("nats:\n  port: "+port+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if code := RunArgs(context.Background(), []string{"status", "-c", open}, nil); code == 0 {
				t.Error("status without the credentials succeeded")
			}
		})
	}
}

// TestEmbeddedNATSRefusesAnOpenPublicAddress: an embedded server on an
// address other than loopback needs authentication; the error names the
// keys to set. With a token it starts.
func TestEmbeddedNATSRefusesAnOpenPublicAddress(t *testing.T) {
	for _, host := range []string{"0.0.0.0", "::", "192.0.2.1", "nats.example"} {
		cfg, err := LoadConfig("")
		if err != nil {
			t.Fatal(err)
		}
		cfg.NATS.Host = host
		err = cfg.Validate()
		if !errors.Is(err, ErrConfig) {
			t.Fatalf("host %s without auth: %v; want a config error", host, err)
		}
		for _, key := range []string{"nats.host", "nats.token", "nats.user", "nats.password", "nats.nkey_seed_file"} {
			if !strings.Contains(err.Error(), key) {
				t.Errorf("host %s: error %q does not name %s", host, err, key)
			}
		}
	}
	for _, host := range []string{"127.0.0.1", "localhost", "::1", "127.0.0.2"} {
		cfg, _ := LoadConfig("")
		cfg.NATS.Host = host
		if err := cfg.Validate(); err != nil {
			t.Errorf("loopback host %s: %v", host, err)
		}
	}
	cfg, _ := LoadConfig("")
	cfg.NATS.CredsFile = "configs/switchboard.yaml" // any existing file
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "nats.creds_file") {
		t.Errorf("creds_file with the embedded server: %v; want an error naming nats.creds_file", err)
	}

	// The library refuses too, whatever called it.
	if _, err := natsserver.Start(natsserver.Config{Host: "0.0.0.0", Port: -1}); !errors.Is(err, natsserver.ErrNoAuth) {
		t.Fatalf("natsserver.Start on 0.0.0.0 without auth: %v; want ErrNoAuth", err)
	}
	s, err := natsserver.Start(natsserver.Config{Host: "0.0.0.0", Port: -1, Token: "t0ken"})
	if err != nil {
		t.Fatalf("natsserver.Start on 0.0.0.0 with a token: %v", err)
	}
	defer s.Shutdown()
	port := strconv.Itoa(s.Addr().(*net.TCPAddr).Port)
	if nc, err := nats.Connect("nats://127.0.0.1:"+port, nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("the server on 0.0.0.0 accepted a connection without the token")
	}
	nc, err := nats.Connect("nats://127.0.0.1:"+port, nats.Token("t0ken"))
	if err != nil {
		t.Fatalf("with the token: %v", err)
	}
	nc.Close()
}
