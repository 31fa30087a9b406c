package switchboard

import (
	"context"
	"fmt"
)

// moveWorkerToChild starts the spare supervisor's child from the binary
// on disk and waits until it takes events, then drains and stops the
// worker running in this process, as a reload replaces a child: no client
// is disconnected, no event lost. From then on the node runs the worker
// role in the child (later reloads replace it, Stop stops it). When the
// child cannot start, the worker here keeps running.
//
// The stopped worker's metrics (switchboard_worker_*) keep its final
// counts: the child's are not exported (its metrics.listen is off). Its
// NATS connection stays open, idle, until Stop, so that /readyz and
// switchboard_nats_connected{role="worker"} keep their meaning.
func (n *Node) moveWorkerToChild() error {
	if err := n.spare.Start(); err != nil {
		// Start failed before any child was ready (one child): nothing
		// runs, and a later reload tries again.
		return fmt.Errorf("reload: start a worker process: %w (the worker in this process keeps running)", err)
	}
	n.sup, n.spare = n.spare, nil
	w := n.Worker()
	// The child, ready, takes events from the queue group while w drains.
	// The gateway's in-process path to w is cut first (w would decline
	// once stopping anyway): from here every event goes through NATS.
	if n.gw != nil {
		n.gw.LinkLocal(nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Worker.StopTimeout)
	defer cancel()
	if err := w.Stop(ctx); err != nil {
		// As a retired child killed after the stop timeout: the child
		// runs, the reload happened.
		n.log.Warn("reload: the worker in this process did not drain in time", "err", err)
	}
	n.wk.Store(nil)
	n.log.Info("reload: the worker role moved to a child process")
	return nil
}
