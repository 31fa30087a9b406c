package bus

import (
	"fmt"
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
	if spec == "" {
		return nil
	}
	off := 0
	for len(spec) > 0 {
		item, rest, _ := strings.Cut(spec, ",")
		spec = rest
		bin := strings.HasPrefix(item, "b")
		if bin {
			item = item[1:]
		}
		n, err := strconv.Atoi(item)
		if err != nil || n < 0 || off+n > len(body) {
			return fmt.Errorf("frame list %q does not match a %d-byte body", item, len(body))
		}
		fn(Frame{Data: body[off : off+n : off+n], Binary: bin})
		off += n
	}
	if off != len(body) {
		return fmt.Errorf("frame list covers %d of %d body bytes", off, len(body))
	}
	return nil
}

// JoinIDs joins client ids for a list header.
func JoinIDs(ids []string) string { return strings.Join(ids, ",") }

// SplitIDs splits a list header into client ids.
func SplitIDs(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}
