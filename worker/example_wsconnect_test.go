package worker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/natsserver"
	"github.com/switchboard-go/switchboard/worker"
)

// Lobby vets each WebSocket handshake, remembers who the client is in its
// session, joins it to the lobby and relays its messages to the others.
type Lobby struct{}

// OnWebSocketConnect runs during the upgrade, before the client is
// accepted: it refuses clients without a token, and what it puts in the
// session reaches every later event of the client.
func (Lobby) OnWebSocketConnect(c *worker.Context, hs bus.Handshake) error {
	user, ok := strings.CutPrefix(hs.Header.Get("Authorization"), "Bearer ")
	if !ok || user == "" {
		return worker.Reject(http.StatusUnauthorized, "token required")
	}
	c.UpdateSession(bus.Session{"user": user}) // a real worker checks the token and keeps the user it names
	return nil
}

// OnConnect joins the client to the lobby, then greets it: when JoinGroup
// returns, the client gets every later message to the group, so a client
// that has read its greeting is in the lobby.
func (Lobby) OnConnect(c *worker.Context) error {
	if err := c.Gateway().JoinGroup(c, c.ClientID(), "lobby"); err != nil {
		return err
	}
	return c.SendToCurrentClient([]byte("welcome"))
}

// OnMessage relays a message to everyone else in the lobby.
func (Lobby) OnMessage(c *worker.Context, m worker.Message) error {
	user, _ := c.Session()["user"].(string)
	return c.Gateway().SendToGroup("lobby", []byte(user+": "+string(m.Data)), bus.Exclude(c.ClientID()))
}

// A worker with OnWebSocketConnect, a gateway and browsers, all in one
// process: a client without a token is refused with the worker's status,
// the others chat.
func ExampleWebSocketConnectHandler() {
	srv, err := natsserver.Start(natsserver.Config{Port: -1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	quiet := slog.New(slog.DiscardHandler)
	g, err := gateway.New(nc, gateway.Listen("ws://127.0.0.1:0"), gateway.Logger(quiet))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := g.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	defer g.Shutdown(context.Background())
	w, err := worker.New(nc, Lobby{}, worker.Logger(quiet))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := w.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	defer w.Stop(context.Background())
	url := g.Addrs()[0]

	// The gateway asks the worker before it accepts a handshake.
	_, err = dialAs(url, "")
	var refused ws.StatusError
	fmt.Println("no token:", errors.As(err, &refused), int(refused))

	ann, err := dialAs(url, "ann")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ann.Close()
	fmt.Println("ann:", ann.read())
	bob, err := dialAs(url, "bob")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer bob.Close()
	fmt.Println("bob:", bob.read())

	if err := wsutil.WriteClientText(ann, []byte("hi")); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("bob:", bob.read())
	// Output:
	// no token: true 401
	// ann: welcome
	// bob: welcome
	// bob: ann: hi
}

// browser is a WebSocket client, reduced to what the example needs.
type browser struct {
	io.Reader
	net.Conn
}

func (b *browser) Read(p []byte) (int, error) { return b.Reader.Read(p) }

// dialAs connects to url with a bearer token for user ("" for none).
func dialAs(url, user string) (*browser, error) {
	d := ws.Dialer{Timeout: 5 * time.Second}
	if user != "" {
		d.Header = ws.HandshakeHeaderHTTP(http.Header{"Authorization": {"Bearer " + user}})
	}
	conn, br, _, err := d.Dial(context.Background(), url)
	if err != nil {
		return nil, err
	}
	b := &browser{Reader: conn, Conn: conn}
	if br != nil { // bytes the server sent right after its handshake
		b.Reader = io.MultiReader(br, conn)
	}
	return b, nil
}

// read returns the next text message, waiting at most 5 s.
func (b *browser) read() string {
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	msg, err := wsutil.ReadServerText(b)
	if err != nil {
		return err.Error()
	}
	return string(msg)
}
