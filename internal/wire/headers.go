package wire

import "github.com/nats-io/nats.go"

// NoResponders reports whether m is the NATS server's "no responders"
// answer to a request (a "Status: 503" header and no body): nobody
// subscribes to the subject the request went to.
func NoResponders(m *nats.Msg) bool { return m.Header.Get(natsStatus) == natsNoResponders }

// The NATS server's own status header and its "no responders" value.
const (
	natsStatus       = "Status"
	natsNoResponders = "503"
)

// Header names of the wire protocol (docs/protocol.md). Group and uid names
// in headers are encoded with NameToken; lists are comma-separated.
const (
	HdrClient  = "Sb-Client"  // a client id
	HdrClients = "Sb-Clients" // a list of client ids (SendToAll's client list)
	HdrExclude = "Sb-Exclude" // client ids that must not receive a frame
	// HdrExcludeGroups lists group tokens whose members must not receive
	// a group send (SendToGroups: each group's publish leaves out the
	// members of the groups listed before it).
	HdrExcludeGroups = "Sb-Exclude-Groups"
	HdrGateway       = "Sb-Gateway"     // a gateway id
	HdrGateways      = "Sb-Gateways"    // the gateways a responder knows to be alive
	HdrOp            = "Sb-Op"          // the operation of a command
	HdrGroup         = "Sb-Group"       // a group token
	HdrUid           = "Sb-Uid"         // a uid token
	HdrBinary        = "Sb-Binary"      // "1" when the frame is binary, absent for text
	HdrSession       = "Sb-Session"     // the client's session as a JSON object
	HdrRedelivered   = "Sb-Redelivered" // "1" when an event is sent again after a timeout
	HdrDeadline      = "Sb-Deadline"    // when the gateway gives up on this attempt of an event: Unix milliseconds
	HdrRemote        = "Sb-Remote"      // the client's remote address
	HdrStatus        = "Sb-Status"      // reply status: ok, error or reject
	HdrError         = "Sb-Error"       // machine-readable error code of a reply
	HdrReason        = "Sb-Reason"      // human-readable reason
	HdrFrames        = "Sb-Frames"      // frame lengths of a multi-frame body
	HdrClose         = "Sb-Close"       // "1": close the client after the frames
	HdrSessionSet    = "Sb-Session-Set" // JSON object replacing the session
	HdrSessionUpd    = "Sb-Session-Update"
	HdrHTTPStatus    = "Sb-Http-Status" // status code for a rejected handshake
	HdrQuery         = "Sb-Query"       // the kind of a cluster query
	HdrWorker        = "Sb-Worker"      // a worker id
	HdrFields        = "Sb-Fields"      // fields a list query returns: uid,groups,session
	HdrFeatures      = "Sb-Features"    // what a worker takes beyond the base protocol, a list (worker heartbeats)
	// HdrPart numbers the parts of a query answer too large for one NATS
	// message: "<i>/<n>", 1 ≤ i ≤ n (docs/protocol.md §8, "Answers in
	// parts"). An answer without it is whole.
	HdrPart = "Sb-Part"
	// HdrReplies lists the replies of a reply batch, each
	// "<client seq>.<event seq>.<frames>" (AppendReplyRef, ParseReplyRef).
	HdrReplies = "Sb-Replies"
	// HdrBusy is "1" in a worker heartbeat while events wait for one of
	// its handler slots and its handlers still finish: gateways hold, not
	// resend, an overdue event while every live worker says so.
	HdrBusy = "Sb-Busy"
)

// FeatureEventBatches in a worker heartbeat's HdrFeatures says that the
// worker takes event batches (docs/protocol.md §5.7, §9.1).
const FeatureEventBatches = "event-batches"

// FeatureWSConnect in a worker heartbeat's HdrFeatures says that the
// worker answers wsconnect events (OnWebSocketConnect): while a live
// worker announces it, gateways ask before they accept a handshake
// (docs/protocol.md §5.4, §9.1).
const FeatureWSConnect = "ws-connect"

// FeatureDirect in a worker heartbeat's HdrFeatures says that the worker
// takes events on its own direct subject, Subjects.WorkerDirect (a plain
// subscription besides the queue group): gateways send redeliveries there
// (docs/protocol.md §5.9, §9.1).
const FeatureDirect = "direct"

// Operations carried in HdrOp.
const (
	OpSend          = "send"
	OpClose         = "close"
	OpDestroy       = "destroy"
	OpJoin          = "join"
	OpLeave         = "leave"
	OpUngroup       = "ungroup"
	OpBind          = "bind"
	OpUnbind        = "unbind"
	OpSessionSet    = "session.set"
	OpSessionUpdate = "session.update"
	OpSessionGet    = "session.get"
	OpOnline        = "online"
	OpUidOf         = "uid"
	OpPing          = "ping"
	OpHello         = "hello"
	OpBye           = "bye"
)

// Reply statuses carried in HdrStatus.
const (
	StatusOK     = "ok"
	StatusError  = "error"
	StatusReject = "reject"
)

// Error codes carried in HdrError.
const (
	CodeNotFound = "not_found"
	CodeInvalid  = "invalid"      // a malformed command or body
	CodeBadName  = "invalid_name" // a group or uid name that is not valid
	CodeInternal = "internal"
	CodeLimit    = "limit" // a per-client limit of the gateway refused it
)

// Query kinds carried in HdrQuery.
const (
	QueryList   = "list"   // client records, optionally filtered by group or uid
	QueryCount  = "count"  // client count and uids, optionally filtered
	QueryStatus = "status" // the gateway's GatewayStatus
	// QueryUngroup makes every gateway remove its members from the group
	// (Sb-Group) and answer when done.
	QueryUngroup = "ungroup"
)
