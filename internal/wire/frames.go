package wire

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Frame is one message to a client: text unless Binary is set.
type Frame struct {
	Data   []byte
	Binary bool
}

// AppendFrameSpec appends one entry of an HdrFrames list: the length,
// preceded by "b" for a binary frame.
func AppendFrameSpec(spec []byte, f Frame) []byte {
	if len(spec) > 0 {
		spec = append(spec, ',')
	}
	if f.Binary {
		spec = append(spec, 'b')
	}
	return strconv.AppendInt(spec, int64(len(f.Data)), 10)
}

// EachFrame splits a multi-frame body described by spec (an HdrFrames
// value) and calls fn for each frame in order. The frames alias body.
func EachFrame(spec string, body []byte, fn func(Frame)) error {
	s := NewFrameScanner(spec, body)
	for s.Scan() {
		fn(s.Frame())
	}
	return s.Err()
}

// FrameScanner splits a multi-frame body described by spec (an HdrFrames
// value) one frame at a time, like bufio.Scanner: a loop over Scan needs
// no callback, so a hot path that walks a reply's frames allocates nothing.
// The frames alias body.
type FrameScanner struct {
	spec  string // entries not yet scanned
	body  []byte
	off   int // where the next frame starts in body
	frame Frame
	done  bool
	err   error

	single bool // the one text frame of a body without a list, not yet returned
}

// NewFrameScanner returns a scanner over the frames of body. An empty spec
// with a body is one text frame, the whole body (so the commonest reply,
// one text frame, needs no header); an empty spec without a body is no
// frame.
func NewFrameScanner(spec string, body []byte) FrameScanner {
	if spec == "" && len(body) > 0 {
		return FrameScanner{body: body, frame: Frame{Data: body[:len(body):len(body)]}, off: len(body), single: true}
	}
	return FrameScanner{spec: spec, body: body, done: spec == ""}
}

// NeedsFrameList reports whether a message whose frames are spec and body
// must carry spec as its HdrFrames: all but one non-empty text frame
// need it, and no frame at all needs nothing (see NewFrameScanner).
func NeedsFrameList(spec, body []byte) bool {
	if len(spec) == 0 {
		return false
	}
	single := len(body) > 0 && spec[0] != 'b' && !slices.Contains(spec, ',')
	return !single
}

// HasFrames reports whether a message with this HdrFrames value and body
// carries any frame (see NewFrameScanner).
func HasFrames(spec string, body []byte) bool { return spec != "" || len(body) > 0 }

// Scan advances to the next frame. It returns false at the end of the list
// or at the first entry that does not fit the body; Err tells which.
func (s *FrameScanner) Scan() bool {
	if s.single {
		s.single, s.done = false, true
		return true
	}
	if s.done {
		return false
	}
	if s.spec == "" {
		s.done = true
		if s.off != len(s.body) {
			s.err = fmt.Errorf("frame list covers %d of %d body bytes", s.off, len(s.body))
		}
		return false
	}
	item, rest, _ := strings.Cut(s.spec, ",")
	s.spec = rest
	bin := strings.HasPrefix(item, "b")
	if bin {
		item = item[1:]
	}
	n, err := strconv.Atoi(item)
	if err != nil || n < 0 || s.off+n > len(s.body) {
		s.err = fmt.Errorf("frame list %q does not match a %d-byte body", item, len(s.body))
		s.done = true
		return false
	}
	s.frame = Frame{Data: s.body[s.off : s.off+n : s.off+n], Binary: bin}
	s.off += n
	return true
}

// Frame returns the frame the last successful Scan found.
func (s *FrameScanner) Frame() Frame { return s.frame }

// Err returns the first mismatch between the list and the body, or nil.
func (s *FrameScanner) Err() error { return s.err }

// JoinIDs joins client ids for a list header.
func JoinIDs(ids []string) string { return strings.Join(ids, ",") }

// SplitIDs splits a list header into client ids.
func SplitIDs(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}
