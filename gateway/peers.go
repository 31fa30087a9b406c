package gateway

import (
	"encoding/json"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/internal/wire"
)

// peers tracks the gateways of the cluster from their heartbeats. A
// gateway is alive while its last heartbeat is younger than three
// intervals, or until it says goodbye.
type peers struct {
	self     string
	interval time.Duration
	mu       sync.Mutex
	seen     map[string]time.Time
}

func (p *peers) heard(id string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen[id] = at
}

func (p *peers) forget(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.seen, id)
}

// alive returns this gateway and every peer heard from recently.
func (p *peers) alive() []string {
	cutoff := time.Now().Add(-3 * p.interval)
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, at := range p.seen {
		if at.Before(cutoff) {
			delete(p.seen, id)
		}
	}
	ids := slices.Collect(maps.Keys(p.seen))
	return append(ids, p.self)
}

// onHeartbeat records another gateway and answers a newcomer's hello with
// an immediate heartbeat, so it knows the cluster at once.
func (g *Gateway) onHeartbeat(m *nats.Msg) {
	beat := wire.ReadGatewayBeat(m)
	id := beat.Gateway
	if id == "" || id == g.id {
		return
	}
	switch beat.Op {
	case wire.OpBye:
		g.peers.forget(id)
	case wire.OpHello:
		g.peers.heard(id, time.Now())
		g.announce("")
	default:
		g.peers.heard(id, time.Now())
	}
}

// announce publishes this gateway's heartbeat; op is "", hello or bye.
func (g *Gateway) announce(op string) {
	body, err := json.Marshal(g.status())
	if err != nil {
		g.log.Error("encode heartbeat", "err", err)
		return
	}
	m := wire.GatewayBeat{Gateway: g.id, Op: op}.Msg(g.subj.Heartbeat(), body)
	if err := g.nc.PublishMsg(m); err != nil {
		g.log.Warn("publish heartbeat", "err", err)
	}
}

// updateRates computes the message rates since the last heartbeat.
func (g *Gateway) updateRates(now time.Time) {
	g.rateMu.Lock()
	defer g.rateMu.Unlock()
	g.rates[0] = g.inRate.Per(now, g.metrics.msgsIn.Load())
	g.rates[1] = g.outRate.Per(now, g.metrics.msgsOut.Load())
}

// status describes the gateway for heartbeats and status queries.
func (g *Gateway) status() bus.GatewayStatus {
	host, _ := os.Hostname()
	in, out := g.metrics.msgsIn.Load(), g.metrics.msgsOut.Load()
	g.rateMu.Lock()
	inRate, outRate := g.rates[0], g.rates[1]
	g.rateMu.Unlock()
	return bus.GatewayStatus{
		ID:            g.id,
		Listen:        strings.Join(g.Addrs(), ","),
		Host:          host,
		PID:           os.Getpid(),
		Started:       g.started,
		Connections:   g.hub.live.Load(),
		MsgsIn:        in,
		MsgsOut:       out,
		MsgsInPerSec:  inRate,
		MsgsOutPerSec: outRate,
		MemoryBytes:   wire.ProcessMemory(),
	}
}
