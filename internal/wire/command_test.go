package wire

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
)

func TestCommandRoundTrip(t *testing.T) {
	for _, c := range []Command{
		{Op: OpPing},
		{Op: OpSend, Clients: JoinIDs([]string{"a", "b"}), Binary: true},
		{Op: OpJoin, Client: "c1", GroupToken: NameToken("room")},
		{Op: OpBind, Client: "c1", UidToken: NameToken("u 1")},
		{Op: OpClose, Client: "c1", Frames: "3,b2"},
		{Binary: true, Exclude: "a,b", ExcludeGroups: NameToken("g1") + "," + NameToken("g2")},
	} {
		if got := ReadCommand(&nats.Msg{Header: c.Header()}); got != c {
			t.Fatalf("wrote %+v, read %+v", c, got)
		}
	}
	m := &nats.Msg{Header: Command{Op: OpSend, Clients: "a,b"}.Header()}
	var c Command
	if n := testing.AllocsPerRun(100, func() { c = ReadCommand(m) }); n != 0 || c.Clients != "a,b" {
		t.Fatalf("ReadCommand allocates %v times (read %+v)", n, c)
	}
}

// FuzzReadCommand: any headers read without panic; what was read written
// back reads the same.
func FuzzReadCommand(f *testing.F) {
	f.Add("send", "", "a,b", "", "", "", "1", "", "")
	f.Add("join", "c", "", "Zw", "", "", "", "", "")
	f.Add("", "", "", "", "", "", "", "x,y", "Zw,Zx")
	f.Fuzz(func(t *testing.T, op, client, clients, group, uid, frames, binary, exclude, excludeGroups string) {
		c := ReadCommand(&nats.Msg{Header: nats.Header{HdrOp: {op}, HdrClient: {client}, HdrClients: {clients},
			HdrGroup: {group}, HdrUid: {uid}, HdrFrames: {frames}, HdrBinary: {binary}, HdrExclude: {exclude}, HdrExcludeGroups: {excludeGroups}}})
		if c.Op != op || c.Client != client || c.Clients != clients || c.GroupToken != group || c.UidToken != uid || c.Frames != frames ||
			c.Binary != (binary == "1") || c.Exclude != exclude || c.ExcludeGroups != excludeGroups {
			t.Fatalf("read %+v", c)
		}
		if again := ReadCommand(&nats.Msg{Header: c.Header()}); again != c {
			t.Fatalf("read %+v, written back and read %+v", c, again)
		}
	})
}

func TestAnswerHeaders(t *testing.T) {
	if err := ReplyError(&nats.Msg{Header: OKHeader()}); err != nil {
		t.Fatalf("OKHeader read as %v", err)
	}
	err := ReplyError(&nats.Msg{Header: ErrorHeader(CodeNotFound, "client x not found")})
	if !errors.Is(err, ErrClientNotFound) {
		t.Fatalf("ErrorHeader(CodeNotFound) read as %v", err)
	}
}
