// Package wire is Switchboard's contract with NATS: for every message kind
// the subjects it travels on, its headers and body, and the functions that
// write and read it, side by side. Gateways, workers and package bus (the
// user's Client) call these functions; no other package builds or parses a
// subject or names a header (internal/archtest checks it). The protocol
// itself is specified in docs/protocol.md; this package is its code.
//
// The package is internal on purpose: package bus stays the user's API,
// and the protocol's stable description for authors of workers in other
// languages is docs/protocol.md, not these Go names.
//
// Where each kind lives (writer / reader):
//
//	subjects       Subjects.Event, Gateway, GatewayReply, Group, Uid, ... /
//	               EventKind, WorkerDirectKind, ParseGatewayReply,
//	               BatchReply, GatewayInbound.Kind, Classify, ParseQueryProbe
//	names          NameToken / TokenName, ValidName, ValidWorkerID
//	client ids     ClientID, AppendClientID / ParseClientID
//	event          EventWriter.Fill / ReadEvent (Event), MessageDeadline
//	event headers  Hdr* constants, AppendDeadline / ParseDeadline,
//	               EncodeSession / DecodeSession
//	event batch    AppendEventBatch, AppendGatewayBatchReply,
//	               AppendBatchEntry / SplitEventBatch (BatchEvent)
//	frames         AppendFrameSpec / EachFrame, FrameScanner
//	reply batch    AppendReplyRef, AppendFrameSpec / ReplyBatchScanner
//	session patch  DiffSessionJSON / MergeSessionJSON, MergeSession
//	command reply  Status*, Code* constants / ReplyError
//	query answer   ListReply, CountReply, SplitAnswer, PartValue /
//	               ParsePart, Assembly
//	heartbeats     Feature* constants, ProcessMemory, Rate
//	in-process     LocalEvent, LocalRunner (no subject: a call, not a message)
//	no responders  NoResponders
package wire
