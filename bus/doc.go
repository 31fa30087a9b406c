// Package bus is the user's side of Switchboard: Client, the Gateway API
// (GatewayWorker's Lib\Gateway) usable from a worker or from any Go program
// that can reach the NATS cluster — send to clients, uids, groups and
// everyone, manage groups, uids and sessions, query the cluster. The wire
// protocol's code (subjects, headers, batches, frames) is internal to the
// module; docs/protocol.md specifies it. The embedded NATS server is in
// package natsserver, so that importing bus links the NATS client only,
// never nats-server.
//
// Two ways to use it. Inside a worker, the worker.Context embeds a *Client
// already connected. From any other program, connect and push:
//
//	c, err := bus.Connect("nats://127.0.0.1:4222")
//	if err != nil { ... }
//	defer c.Close()
//	err = c.SendToGroup("room:lobby", []byte("hello"))
//
// Every subject starts with a prefix (default "sb"), so several applications
// share one NATS cluster without seeing each other's traffic.
package bus
