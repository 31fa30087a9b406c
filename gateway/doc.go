// Package gateway holds client sockets (GatewayWorker's Gateway role). It
// accepts WebSocket connections, publishes each client's events to the
// workers over NATS with at most one event of a client in flight, applies
// the workers' replies (frames, session changes, close), and delivers what
// the Gateway API sends to its clients: to one client through its own
// subject, to groups, uids and everyone through interest-routed subjects,
// encoding each frame once per gateway.
//
//	nc, _ := nats.Connect(url)
//	g, err := gateway.New(nc, gateway.Listen("ws://0.0.0.0:8282"))
//	if err != nil { ... }
//	if err := g.Start(ctx); err != nil { ... }
//	defer g.Shutdown(context.Background())
//
// Non-WebSocket HTTP requests on the same port go to the handler given with
// HTTPHandler (the chat demo serves its page this way).
package gateway
