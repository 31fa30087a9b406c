// Package loadtest is the engine of sbbench: WebSocket clients driven by
// epoll (no goroutine per connection, one shared read buffer), and the
// scenarios of the bench protocol — idle, echo, broadcast — plus floor, the
// cost of raw loopback writes on this machine, so every result can be
// stated as a ratio to it. Server CPU and memory come from /proc for the
// PIDs given. RawServer serves the bench protocol with no bus, one write(2)
// per member of a broadcast: loaded like any server, it measures the
// kernel floor of a scenario with the same client.
package loadtest
