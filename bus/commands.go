package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// command sends op for one client to its gateway as a request and returns
// the reply. A gateway that is gone (no responders) means the client is gone.
func (c *Client) command(ctx context.Context, clientID, op string, cmd wire.Command, data []byte) (*nats.Msg, error) {
	gw, _, err := wire.ParseClientID(clientID)
	if err != nil {
		return nil, err
	}
	cmd.Op, cmd.Client = op, clientID
	hdr := cmd.Header()
	ctx, cancel := c.withDeadline(ctx)
	defer cancel()
	reply, err := c.nc.RequestMsgWithContext(ctx, &nats.Msg{Subject: c.subj.Gateway(gw), Header: hdr, Data: data})
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, fmt.Errorf("%s %s: %w", op, clientID, ErrClientNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, clientID, err)
	}
	if err := wire.ReplyError(reply); err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, clientID, err)
	}
	return reply, nil
}

// JoinGroup adds a client to a group. When it returns, a SendToGroup
// published afterwards by anyone reaches the client.
func (c *Client) JoinGroup(ctx context.Context, clientID, group string) error {
	return c.nameCommand(ctx, clientID, wire.OpJoin, group)
}

// LeaveGroup removes a client from a group.
func (c *Client) LeaveGroup(ctx context.Context, clientID, group string) error {
	return c.nameCommand(ctx, clientID, wire.OpLeave, group)
}

// BindUid binds a client to uid. A client has at most one uid: binding
// replaces the previous one. Several clients may share a uid.
func (c *Client) BindUid(ctx context.Context, clientID, uid string) error {
	return c.nameCommand(ctx, clientID, wire.OpBind, uid)
}

// UnbindUid removes the client's binding to uid.
func (c *Client) UnbindUid(ctx context.Context, clientID, uid string) error {
	return c.nameCommand(ctx, clientID, wire.OpUnbind, uid)
}

// nameCommand joins or leaves a group (the name is a group), binds or
// unbinds a uid.
func (c *Client) nameCommand(ctx context.Context, clientID, op, name string) error {
	if err := wire.ValidName(name); err != nil {
		return err
	}
	var cmd wire.Command
	if op == wire.OpBind || op == wire.OpUnbind {
		cmd.UidToken = wire.NameToken(name)
	} else {
		cmd.GroupToken = wire.NameToken(name)
	}
	_, err := c.command(ctx, clientID, op, cmd, nil)
	return err
}

// Ungroup dissolves a group: every member on every gateway leaves it. The
// clients stay connected.
func (c *Client) Ungroup(ctx context.Context, group string) error {
	// A cluster query: it returns when every gateway has ungrouped.
	_, err := c.gather(ctx, wire.QueryUngroup, byGroup(group))
	return err
}

// CloseClient closes a client gracefully, sending last first when it is not
// nil (GatewayWorker's closeClient($id, $message)).
func (c *Client) CloseClient(ctx context.Context, clientID string, last []byte, opts ...SendOption) error {
	var cmd wire.Command
	if last != nil {
		o := applySend(opts)
		cmd.Frames = string(wire.AppendFrameSpec(nil, wire.Frame{Data: last, Binary: o.binary}))
	}
	_, err := c.command(ctx, clientID, wire.OpClose, cmd, last)
	return err
}

// DestroyClient drops a client's connection at once, without a close
// handshake. Its OnClose still runs.
func (c *Client) DestroyClient(ctx context.Context, clientID string) error {
	_, err := c.command(ctx, clientID, wire.OpDestroy, wire.Command{}, nil)
	return err
}

// SetSession replaces a client's session.
func (c *Client) SetSession(ctx context.Context, clientID string, s Session) error {
	return c.sessionCommand(ctx, clientID, wire.OpSessionSet, s)
}

// UpdateSession merges s into a client's session recursively (PHP's
// array_replace_recursive): a nested object (map[string]any or Session)
// merges into the old nested object, a nil value removes the key at any
// depth, any other value (arrays included) replaces the old one, and keys
// not in s stay. See MergeSessionJSON.
func (c *Client) UpdateSession(ctx context.Context, clientID string, s Session) error {
	return c.sessionCommand(ctx, clientID, wire.OpSessionUpdate, s)
}

func (c *Client) sessionCommand(ctx context.Context, clientID, op string, s Session) error {
	b, err := wire.EncodeSession(s)
	if err != nil {
		return err
	}
	if b == nil {
		b = []byte("{}")
	}
	_, err = c.command(ctx, clientID, op, wire.Command{}, b)
	return err
}

// Session returns a client's session (empty, not nil, when none is set).
func (c *Client) Session(ctx context.Context, clientID string) (Session, error) {
	reply, err := c.command(ctx, clientID, wire.OpSessionGet, wire.Command{}, nil)
	if err != nil {
		return nil, err
	}
	return wire.DecodeSession(reply.Data)
}

// IsOnline reports whether a client is connected.
func (c *Client) IsOnline(ctx context.Context, clientID string) (bool, error) {
	_, err := c.command(ctx, clientID, wire.OpOnline, wire.Command{}, nil)
	if errors.Is(err, ErrClientNotFound) {
		return false, nil
	}
	return err == nil, err
}

// UidByClientID returns the uid a client is bound to, "" when none.
func (c *Client) UidByClientID(ctx context.Context, clientID string) (string, error) {
	reply, err := c.command(ctx, clientID, wire.OpUidOf, wire.Command{}, nil)
	if err != nil {
		return "", err
	}
	return string(reply.Data), nil
}

// IsUidOnline reports whether any client is bound to uid. It costs one
// request: a gateway holding the uid answers, none answering means offline.
func (c *Client) IsUidOnline(ctx context.Context, uid string) (bool, error) {
	if err := wire.ValidName(uid); err != nil {
		return false, err
	}
	ctx, cancel := c.withDeadline(ctx)
	defer cancel()
	m := &nats.Msg{Subject: c.subj.Uid(uid), Header: wire.Command{Op: wire.OpPing}.Header()}
	reply, err := c.nc.RequestMsgWithContext(ctx, m)
	if errors.Is(err, nats.ErrNoResponders) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("is uid %q online: %w", uid, err)
	}
	// A gateway whose last member just unbound may still hold the
	// subscription for a moment and answers "0".
	return string(reply.Data) != "0", nil
}
