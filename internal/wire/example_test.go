package wire_test

import (
	"fmt"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// Group and uid names may hold any UTF-8; they are encoded into one
// subject token.
func ExampleNameToken() {
	fmt.Println(wire.NameToken("lobby"))
	fmt.Println(wire.NameToken("room 1.*"))
	// Output:
	// lobby
	// ~cm9vbSAxLio
}

// A reply subject ends with the client's and the event's numbers in base
// 36; a reply batch names each reply by the same two tokens.
func ExampleParseEventRef() {
	seq, evSeq, ok := wire.ParseEventRef("1f", "a")
	fmt.Println(seq, evSeq, ok)
	_, _, ok = wire.ParseEventRef("1f", "")
	fmt.Println(ok)
	// Output:
	// 51 10 true
	// false
}
