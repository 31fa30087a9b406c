// Package natsserver starts an embedded NATS server: the GatewayWorker
// "register" role, for a single-process deployment, a development machine,
// or a test.
//
//	srv, err := natsserver.Start(natsserver.Config{Port: -1}) // a free port
//	if err != nil { ... }
//	defer srv.Shutdown()
//	api, err := bus.Connect(srv.ClientURL())
//
// It is a package of its own, apart from bus, so that a program that only
// pushes to clients (bus.Connect) or only runs handlers (worker) does not
// link nats-server: importing bus pulls in the NATS client alone. It is
// public because a user's own main, example or test starts the server
// programmatically, as the switchboard command does for the "nats" role.
package natsserver
