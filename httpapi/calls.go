package httpapi

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/switchboard-go/switchboard/bus"
)

// Request is the body of every call; each call reads the fields it needs.
type Request struct {
	ClientID   string      `json:"client_id,omitempty"`
	Group      string      `json:"group,omitempty"`
	Uid        string      `json:"uid,omitempty"`
	Groups     []string    `json:"groups,omitempty"`     // send_to_groups, client_ids_by_groups, uids_by_groups
	Uids       []string    `json:"uids,omitempty"`       // send_to_uids
	Data       *string     `json:"data,omitempty"`       // text, or with binary: base64
	Binary     bool        `json:"binary,omitempty"`     // data is base64 and goes as a binary frame
	Exclude    []string    `json:"exclude,omitempty"`    // client ids left out
	Only       []string    `json:"client_ids,omitempty"` // send_to_all: only these clients
	Session    bus.Session `json:"session,omitempty"`    // set_session, update_session
	AllClients *bool       `json:"-"`                    // unused; keeps the shape open
}

// call is one API call: the fields it needs and what it does.
type call struct {
	needs string // letters: c client_id, g group, u uid, d data, s session, G groups, U uids
	doc   string
	run   func(ctx context.Context, api *bus.Client, r Request) (any, error)
}

var errMissing = errors.New("missing field")

func (r Request) payload() ([]byte, []bus.SendOption, error) {
	if r.Data == nil {
		return nil, nil, fmt.Errorf("data: %w", errMissing)
	}
	opts := []bus.SendOption{bus.Exclude(r.Exclude...)}
	if !r.Binary {
		return []byte(*r.Data), opts, nil
	}
	b, err := base64.StdEncoding.DecodeString(*r.Data)
	if err != nil {
		return nil, nil, fail(http.StatusBadRequest, "bad_request", "data: not base64: %v", err)
	}
	return b, append(opts, bus.Binary()), nil
}

// ok is the answer of calls that return nothing.
type ok struct {
	OK bool `json:"ok"`
}

func done(err error) (any, error) { return ok{OK: err == nil}, err }

func value[T any](key string) func(T, error) (any, error) {
	return func(v T, err error) (any, error) { return map[string]T{key: v}, err }
}

// Calls lists every call by name, as the API and its OpenAPI document
// serve them.
func Calls() map[string]call {
	send := func(fn func(api *bus.Client, r Request, data []byte, opts []bus.SendOption) error) func(context.Context, *bus.Client, Request) (any, error) {
		return func(_ context.Context, api *bus.Client, r Request) (any, error) {
			data, opts, err := r.payload()
			if err != nil {
				return nil, err
			}
			return done(fn(api, r, data, opts))
		}
	}
	return map[string]call{
		"send_to_client": {"cd", "Send data to one client.", send(func(api *bus.Client, r Request, d []byte, o []bus.SendOption) error {
			return api.SendToClient(r.ClientID, d, o...)
		})},
		"send_to_uid": {"ud", "Send data to every client bound to uid.", send(func(api *bus.Client, r Request, d []byte, o []bus.SendOption) error {
			return api.SendToUid(r.Uid, d, o...)
		})},
		"send_to_group": {"gd", "Send data to every member of group, minus exclude.", send(func(api *bus.Client, r Request, d []byte, o []bus.SendOption) error {
			return api.SendToGroup(r.Group, d, o...)
		})},
		"send_to_uids": {"Ud", "Send data to every client bound to any of uids, minus exclude.", send(func(api *bus.Client, r Request, d []byte, o []bus.SendOption) error {
			return api.SendToUids(r.Uids, d, o...)
		})},
		"send_to_groups": {"Gd", "Send data to every member of any of groups, once per client, minus exclude.", send(func(api *bus.Client, r Request, d []byte, o []bus.SendOption) error {
			return api.SendToGroups(r.Groups, d, o...)
		})},
		"send_to_all": {"d", "Send data to every client, or to client_ids only, minus exclude.", send(func(api *bus.Client, r Request, d []byte, o []bus.SendOption) error {
			if r.Only != nil {
				o = append(o, bus.Only(r.Only...))
			}
			return api.SendToAll(d, o...)
		})},
		"join_group": {"cg", "Add a client to a group.", func(ctx context.Context, api *bus.Client, r Request) (any, error) {
			return done(api.JoinGroup(ctx, r.ClientID, r.Group))
		}},
		"leave_group": {"cg", "Remove a client from a group.", func(ctx context.Context, api *bus.Client, r Request) (any, error) {
			return done(api.LeaveGroup(ctx, r.ClientID, r.Group))
		}},
		"ungroup": {"g", "Dissolve a group.", func(ctx context.Context, api *bus.Client, r Request) (any, error) {
			return done(api.Ungroup(ctx, r.Group))
		}},
		"bind_uid": {"cu", "Bind a client to a uid (replacing its previous one).", func(ctx context.Context, api *bus.Client, r Request) (any, error) {
			return done(api.BindUid(ctx, r.ClientID, r.Uid))
		}},
		"unbind_uid": {"cu", "Unbind a client from a uid.", func(ctx context.Context, api *bus.Client, r Request) (any, error) {
			return done(api.UnbindUid(ctx, r.ClientID, r.Uid))
		}},
		"close_client": {"c", "Close a client, sending data first if given.", func(ctx context.Context, api *bus.Client, r Request) (any, error) {
			if r.Data == nil {
				return done(api.CloseClient(ctx, r.ClientID, nil))
			}
			data, opts, err := r.payload()
			if err != nil {
				return nil, err
			}
			return done(api.CloseClient(ctx, r.ClientID, data, opts...))
		}},
		"destroy_client": {"c", "Drop a client's connection at once.", func(ctx context.Context, api *bus.Client, r Request) (any, error) {
			return done(api.DestroyClient(ctx, r.ClientID))
		}},
		"set_session": {"cs", "Replace a client's session.", func(ctx context.Context, api *bus.Client, r Request) (any, error) {
			return done(api.SetSession(ctx, r.ClientID, r.Session))
		}},
		"update_session": {"cs", "Merge into a client's session recursively: nested objects merge, null removes a key.", func(ctx context.Context, api *bus.Client, r Request) (any, error) {
			return done(api.UpdateSession(ctx, r.ClientID, r.Session))
		}},
		"get_session": {"c", "A client's session.", func(ctx context.Context, api *bus.Client, r Request) (any, error) {
			return value[bus.Session]("session")(api.Session(ctx, r.ClientID))
		}},
		"is_online": {"c", "Whether a client is connected.", func(ctx context.Context, api *bus.Client, r Request) (any, error) {
			return value[bool]("online")(api.IsOnline(ctx, r.ClientID))
		}},
		"is_uid_online": {"u", "Whether any client is bound to uid.", func(ctx context.Context, api *bus.Client, r Request) (any, error) {
			return value[bool]("online")(api.IsUidOnline(ctx, r.Uid))
		}},
		"client_ids_by_uid": {"u", "Clients bound to uid.", func(ctx context.Context, api *bus.Client, r Request) (any, error) {
			return value[[]string]("client_ids")(api.ClientIDsByUid(ctx, r.Uid))
		}},
		"uid_by_client_id": {"c", "The uid of a client.", func(ctx context.Context, api *bus.Client, r Request) (any, error) {
			return value[string]("uid")(api.UidByClientID(ctx, r.ClientID))
		}},
		"client_count": {"", "Connected clients in the cluster.", func(ctx context.Context, api *bus.Client, _ Request) (any, error) {
			return value[int]("count")(api.ClientCount(ctx))
		}},
		"client_ids": {"", "Every connected client id.", func(ctx context.Context, api *bus.Client, _ Request) (any, error) {
			return value[[]string]("client_ids")(api.ClientIDs(ctx))
		}},
		"client_count_by_group": {"g", "Members of a group.", func(ctx context.Context, api *bus.Client, r Request) (any, error) {
			return value[int]("count")(api.ClientCountByGroup(ctx, r.Group))
		}},
		"client_ids_by_group": {"g", "Member ids of a group.", func(ctx context.Context, api *bus.Client, r Request) (any, error) {
			return value[[]string]("client_ids")(api.ClientIDsByGroup(ctx, r.Group))
		}},
		"client_sessions_by_group": {"g", "Sessions of a group's members by client id.", func(ctx context.Context, api *bus.Client, r Request) (any, error) {
			return value[map[string]bus.Session]("sessions")(api.ClientSessionsByGroup(ctx, r.Group))
		}},
		"all_client_sessions": {"", "Sessions of every client by client id.", func(ctx context.Context, api *bus.Client, _ Request) (any, error) {
			return value[map[string]bus.Session]("sessions")(api.AllClientSessions(ctx))
		}},
		"uids_by_group": {"g", "Distinct uids in a group.", func(ctx context.Context, api *bus.Client, r Request) (any, error) {
			return value[[]string]("uids")(api.UidsByGroup(ctx, r.Group))
		}},
		"uid_count_by_group": {"g", "Number of distinct uids in a group.", func(ctx context.Context, api *bus.Client, r Request) (any, error) {
			return value[int]("count")(api.UidCountByGroup(ctx, r.Group))
		}},
		"uids": {"", "Every bound uid.", func(ctx context.Context, api *bus.Client, _ Request) (any, error) {
			return value[[]string]("uids")(api.Uids(ctx))
		}},
		"uid_count": {"", "Number of bound uids.", func(ctx context.Context, api *bus.Client, _ Request) (any, error) {
			return value[int]("count")(api.UidCount(ctx))
		}},
		"group_ids": {"", "Every group with a member.", func(ctx context.Context, api *bus.Client, _ Request) (any, error) {
			return value[[]string]("groups")(api.GroupIDs(ctx))
		}},
		"group_uid_list": {"", "The uids of every group.", func(ctx context.Context, api *bus.Client, _ Request) (any, error) {
			return value[map[string][]string]("groups")(api.GroupUidList(ctx))
		}},
		"group_client_ids": {"", "The members of every group.", func(ctx context.Context, api *bus.Client, _ Request) (any, error) {
			return value[map[string][]string]("groups")(api.GroupClientIDs(ctx))
		}},
		"group_client_counts": {"", "The number of members of every group.", func(ctx context.Context, api *bus.Client, _ Request) (any, error) {
			return value[map[string]int]("groups")(api.GroupClientCounts(ctx))
		}},
		"group_uid_counts": {"", "The number of distinct uids of every group.", func(ctx context.Context, api *bus.Client, _ Request) (any, error) {
			return value[map[string]int]("groups")(api.GroupUidCounts(ctx))
		}},
		"client_ids_by_groups": {"G", "Clients that are members of any of groups.", func(ctx context.Context, api *bus.Client, r Request) (any, error) {
			return value[[]string]("client_ids")(api.ClientIDsByGroups(ctx, r.Groups))
		}},
		"uids_by_groups": {"G", "Distinct uids of the members of any of groups.", func(ctx context.Context, api *bus.Client, r Request) (any, error) {
			return value[[]string]("uids")(api.UidsByGroups(ctx, r.Groups))
		}},
		"gateways": {"", "The status of every live gateway.", func(ctx context.Context, api *bus.Client, _ Request) (any, error) {
			return value[[]bus.GatewayStatus]("gateways")(api.Gateways(ctx))
		}},
		"workers": {"", "The status of every live worker (from their heartbeats).", func(ctx context.Context, api *bus.Client, _ Request) (any, error) {
			return value[[]bus.WorkerStatus]("workers")(api.Workers(ctx, 300*time.Millisecond))
		}},
		"clients": {"", "Connected clients with uid and groups, optionally of a group or uid.", func(ctx context.Context, api *bus.Client, r Request) (any, error) {
			return value[[]bus.ClientInfo]("clients")(api.Clients(ctx, bus.Filter{Group: r.Group, Uid: r.Uid}, bus.FieldUid, bus.FieldGroups))
		}},
	}
}
