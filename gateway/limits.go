package gateway

import (
	"sync/atomic"

	"github.com/gobwas/ws"
)

// limit names a bound the gateway enforces; each has a counter in Stats.
type limit int

const (
	limitMessageTooLarge     limit = iota // max_message_bytes
	limitInvalidUTF8                      // text frame that is not UTF-8
	limitProtocolError                    // any other RFC 6455 violation
	limitRate                             // rate_limit
	limitMaxConnections                   // max_connections
	limitOrigin                           // allowed_origins
	limitHeaderTooLarge                   // request head over 8 KiB
	limitHandshakeTimeout                 // handshake_timeout, or a broken handshake
	limitSlowClient                       // send_buffer_bytes
	limitHeartbeat                        // ping_not_response_limit
	limitNoWorker                         // handshake: no worker runs (or answers) OnWebSocketConnect
	limitWorkerTimeout                    // handshake: OnWebSocketConnect did not answer in time
	limitBusAway                          // handshake: NATS unavailable
	limitMaxConnectionsPerIP              // max_connections_per_ip
	limitConnectDropped                   // connect event dropped: no worker (no_worker_wait, max_redeliveries)
	limitMessageTimeout                   // message_read_timeout
	limitMaxGroups                        // max_groups_per_client: a JoinGroup refused
	limitSessionBytes                     // max_session_bytes: a session change refused
	limitInvalidUTF8Out                   // a text frame to clients that is not UTF-8 (dropped)
	limitEventDropped                     // a message event dropped (max_redeliveries, no_worker_wait): client closed
	numLimits
)

func (l limit) String() string {
	switch l {
	case limitMessageTooLarge:
		return "message_too_large"
	case limitInvalidUTF8:
		return "invalid_utf8"
	case limitProtocolError:
		return "protocol_error"
	case limitRate:
		return "rate_limit"
	case limitMaxConnections:
		return "max_connections"
	case limitOrigin:
		return "origin"
	case limitHeaderTooLarge:
		return "header_too_large"
	case limitHandshakeTimeout:
		return "handshake_failed"
	case limitSlowClient:
		return "slow_client"
	case limitNoWorker:
		return "no_worker"
	case limitWorkerTimeout:
		return "worker_timeout"
	case limitBusAway:
		return "bus_away"
	case limitMaxConnectionsPerIP:
		return "max_connections_per_ip"
	case limitConnectDropped:
		return "connect_dropped"
	case limitMessageTimeout:
		return "message_read_timeout"
	case limitMaxGroups:
		return "max_groups_per_client"
	case limitSessionBytes:
		return "max_session_bytes"
	case limitInvalidUTF8Out:
		return "invalid_utf8_out"
	case limitEventDropped:
		return "event_dropped"
	}
	return "heartbeat_timeout"
}

// limitCounters counts how often each limit refused or closed a client.
type limitCounters [numLimits]atomic.Uint64

func (lc *limitCounters) hit(l limit) { lc[l].Add(1) }

func (lc *limitCounters) snapshot() map[string]uint64 {
	out := make(map[string]uint64, numLimits)
	for l := range numLimits {
		out[l.String()] = lc[l].Load()
	}
	return out
}

// limitOf classifies a WebSocket close code.
func limitOf(code ws.StatusCode) limit {
	switch code {
	case ws.StatusMessageTooBig:
		return limitMessageTooLarge
	case ws.StatusInvalidFramePayloadData:
		return limitInvalidUTF8
	case ws.StatusPolicyViolation:
		return limitRate
	}
	return limitProtocolError
}
