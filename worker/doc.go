// Package worker runs the user's business logic (GatewayWorker's
// BusinessWorker). A Worker joins the "workers" queue group on the event
// subjects; NATS spreads events over every worker of the cluster, so
// starting another worker anywhere takes a share at once and stopping one
// (Stop drains it) hands its clients to the others without losing an event.
//
// The gateway sends a client's next event only after the reply to the
// previous one, so a handler sees each client's events in order, one at a
// time, and always reads the session the previous handler wrote; events of
// different clients run concurrently.
//
// Handlers are methods on the user's Events value; each callback is its own
// small interface, implement the ones you need:
//
//	type Echo struct{}
//
//	func (Echo) OnMessage(c *worker.Context, m worker.Message) error {
//		return c.SendToCurrentClient(m.Data)
//	}
package worker
