//go:build !linux

package gateway

import "errors"

// netpoll needs epoll, which only Linux has. Elsewhere every connection
// gets a reader goroutine (as with Netpoll(false)): newNetpoll returns no
// poller and the gateway never hands it a connection.
type netpoll struct{}

func newNetpoll(*Gateway) (*netpoll, error) { return nil, nil }

func (p *netpoll) run() {}

func (p *netpoll) stop() {}

func (p *netpoll) add(*conn, []byte) error { return errors.New("netpoll: no epoll on this system") }

func (p *netpoll) forget(*conn) {}
