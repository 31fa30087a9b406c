package bus

import (
	"fmt"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// SendOption modifies one send call.
type SendOption func(*sendOptions)

type sendOptions struct {
	binary  bool
	exclude []string
	only    []string
	onlySet bool // Only was given, even with no ids: send to those only
}

// Binary sends the data as a binary frame instead of text.
func Binary() SendOption { return func(o *sendOptions) { o.binary = true } }

// Exclude leaves the given clients out of a group, uid or all send.
func Exclude(clientIDs ...string) SendOption {
	return func(o *sendOptions) { o.exclude = append(o.exclude, clientIDs...) }
}

// Only restricts SendToAll to the given clients (GatewayWorker's
// $client_id_array).
func Only(clientIDs ...string) SendOption {
	return func(o *sendOptions) { o.only, o.onlySet = append(o.only, clientIDs...), true }
}

// frameCommand returns the headers of a frame sent with options o; the
// caller adds the addressing (Op and Clients, or ExcludeGroups).
func frameCommand(o sendOptions) wire.Command {
	cmd := wire.Command{Binary: o.binary}
	if len(o.exclude) > 0 {
		cmd.Exclude = wire.JoinIDs(o.exclude)
	}
	return cmd
}

func newFrameMsg(subject string, data []byte, cmd wire.Command) *nats.Msg {
	return &nats.Msg{Subject: subject, Data: data, Header: cmd.Header()}
}

// checkText refuses a text frame that is not valid UTF-8.
func checkText(data []byte, o sendOptions) error {
	if !o.binary && !utf8.Valid(data) {
		return ErrInvalidUTF8
	}
	return nil
}

func applySend(opts []SendOption) sendOptions {
	if len(opts) == 0 {
		return sendOptions{} // the usual call; o below escapes to the options
	}
	var o sendOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// SendToClient sends data to one client, wherever it is connected: one
// publish to its gateway. Sending to a client that is gone is not an error
// (GatewayWorker behaves the same); use IsOnline to ask first.
func (c *Client) SendToClient(clientID string, data []byte, opts ...SendOption) error {
	gw, _, err := wire.ParseClientID(clientID)
	if err != nil {
		return err
	}
	o := applySend(opts)
	if err := checkText(data, o); err != nil {
		return fmt.Errorf("send to client %s: %w", clientID, err)
	}
	cmd := frameCommand(o)
	cmd.Op, cmd.Clients = wire.OpSend, clientID
	m := newFrameMsg(c.subj.Gateway(gw), data, cmd)
	if err := c.nc.PublishMsg(m); err != nil {
		return fmt.Errorf("send to client %s: %w", clientID, err)
	}
	return nil
}

// SendToUid sends data to every client bound to uid, on every gateway.
func (c *Client) SendToUid(uid string, data []byte, opts ...SendOption) error {
	if err := wire.ValidName(uid); err != nil {
		return err
	}
	o := applySend(opts)
	if err := checkText(data, o); err != nil {
		return fmt.Errorf("send to uid %q: %w", uid, err)
	}
	if err := c.nc.PublishMsg(newFrameMsg(c.subj.Uid(uid), data, frameCommand(o))); err != nil {
		return fmt.Errorf("send to uid %q: %w", uid, err)
	}
	return nil
}

// SendToGroup sends data to every member of group except the excluded
// clients. Only gateways holding a member receive the message.
func (c *Client) SendToGroup(group string, data []byte, opts ...SendOption) error {
	if err := wire.ValidName(group); err != nil {
		return err
	}
	o := applySend(opts)
	if err := checkText(data, o); err != nil {
		return fmt.Errorf("send to group %q: %w", group, err)
	}
	if err := c.nc.PublishMsg(newFrameMsg(c.subj.Group(group), data, frameCommand(o))); err != nil {
		return fmt.Errorf("send to group %q: %w", group, err)
	}
	return nil
}

// SendToUids sends data to every client bound to any of uids, minus the
// excluded clients (GatewayWorker's sendToUid with an array): one publish
// per distinct uid. A client has one uid at most, so none receives twice.
// An empty list or an invalid name is an error and nothing is sent.
func (c *Client) SendToUids(uids []string, data []byte, opts ...SendOption) error {
	uids, err := distinctNames("uid", uids)
	if err != nil {
		return err
	}
	o := applySend(opts)
	for _, uid := range uids {
		if err := c.nc.PublishMsg(newFrameMsg(c.subj.Uid(uid), data, frameCommand(o))); err != nil {
			return fmt.Errorf("send to uid %q: %w", uid, err)
		}
	}
	return nil
}

// SendToGroups sends data to every member of any of groups, minus the
// excluded clients (GatewayWorker's sendToGroup with an array): one
// publish per distinct group, and a client in several of the groups
// receives the message once. Each group's publish names the groups listed
// before it (Sb-Exclude-Groups), and a gateway leaves out their members:
// they receive it through the first of their groups. A client that joins
// or leaves one of the groups while the publishes are in flight may
// receive it twice or not at all. An empty list or an invalid name is an
// error and nothing is sent.
func (c *Client) SendToGroups(groups []string, data []byte, opts ...SendOption) error {
	groups, err := distinctNames("group", groups)
	if err != nil {
		return err
	}
	o := applySend(opts)
	before := make([]byte, 0, 16*len(groups))
	for i, group := range groups {
		cmd := frameCommand(o)
		if i > 0 {
			cmd.ExcludeGroups = string(before)
			before = append(before, ',')
		}
		m := newFrameMsg(c.subj.Group(group), data, cmd)
		before = append(before, wire.NameToken(group)...)
		if err := c.nc.PublishMsg(m); err != nil {
			return fmt.Errorf("send to group %q (%d of %d): %w", group, i+1, len(groups), err)
		}
	}
	return nil
}

// distinctNames checks every name and drops repeats, keeping the order.
func distinctNames(what string, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("empty %s list: %w", what, ErrInvalidName)
	}
	seen := make(map[string]bool, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if err := wire.ValidName(n); err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

// SendToAll sends data to every connected client, or with Only to the listed
// clients (one publish per gateway involved), minus the excluded ones.
func (c *Client) SendToAll(data []byte, opts ...SendOption) error {
	o := applySend(opts)
	if err := checkText(data, o); err != nil {
		return fmt.Errorf("send to all: %w", err)
	}
	if !o.onlySet {
		if err := c.nc.PublishMsg(newFrameMsg(c.subj.All(), data, frameCommand(o))); err != nil {
			return fmt.Errorf("send to all: %w", err)
		}
		return nil
	}
	byGateway, err := groupByGateway(o.only, o.exclude)
	if err != nil {
		return err
	}
	o.exclude = nil
	for gw, ids := range byGateway {
		cmd := frameCommand(o)
		cmd.Op, cmd.Clients = wire.OpSend, wire.JoinIDs(ids)
		m := newFrameMsg(c.subj.Gateway(gw), data, cmd)
		if err := c.nc.PublishMsg(m); err != nil {
			return fmt.Errorf("send to gateway %s: %w", gw, err)
		}
	}
	return nil
}

func groupByGateway(ids, exclude []string) (map[string][]string, error) {
	skip := make(map[string]bool, len(exclude))
	for _, id := range exclude {
		skip[id] = true
	}
	out := map[string][]string{}
	for _, id := range ids {
		if skip[id] {
			continue
		}
		gw, _, err := wire.ParseClientID(id)
		if err != nil {
			return nil, err
		}
		out[gw] = append(out[gw], id)
	}
	return out, nil
}

// IsBinary reports whether opts ask for a binary frame.
func IsBinary(opts []SendOption) bool { return applySend(opts).binary }
