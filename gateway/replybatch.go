package gateway

import (
	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// onReplyBatch applies a worker's reply batch (docs/protocol.md, "Reply
// batches"): the answers to several events, in one NATS message. Each
// reply (a session change and frames, never a close) is applied as if it
// had come alone, and the client's next event goes out. A malformed batch
// is logged and dropped whole: its events time out and are redelivered,
// as for a lost reply. The frames it carries join b, the inbound
// dispatcher's writeBatch (writebatch.go), like any reply's; an event
// batch (eventbatch.go) is the other direction, gateway to worker.
func (g *Gateway) onReplyBatch(m *nats.Msg, b *writeBatch) {
	sc := wire.NewReplyBatchScanner(m)
	check, n := sc, 0
	for check.Scan() {
		n++
	}
	if err := check.Err(); err != nil {
		g.log.Warn("reply batch dropped", "err", err)
		return
	}
	g.metrics.replyBatches.Add(1)
	g.metrics.repliesBatched.Add(uint64(n))
	for sc.Scan() {
		r := sc.Reply()
		c := g.answered(r.ClientSeq, r.EventSeq, false)
		if c == nil {
			continue
		}
		g.changeSession(c, r.SessionSet, r.SessionUpdate)
		g.applyFrames(c, r.Frames, r.Body, b)
		c.advance()
	}
}
