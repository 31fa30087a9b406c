// Command push is the README's "Push from any other program" snippet as a
// program of its own: it connects, sends one message to a uid and exits
// right after Close. TestPushFromAnotherProgram builds and runs it.
//
// Usage: push [nats-url [uid [message]]]
package main

import (
	"fmt"
	"os"

	"github.com/switchboard-go/switchboard/bus"
)

func main() {
	url, uid, msg := "nats://127.0.0.1:4222", "user-42", `{"type":"notice","text":"hi"}`
	if len(os.Args) > 1 {
		url = os.Args[1]
	}
	if len(os.Args) > 2 {
		uid = os.Args[2]
	}
	if len(os.Args) > 3 {
		msg = os.Args[3]
	}
	if err := run(url, uid, msg); err != nil {
		fmt.Fprintln(os.Stderr, "push:", err)
		os.Exit(1)
	}
}

// run is the README snippet; its deferred Close is what must deliver.
func run(url, uid, msg string) (err error) {
	api, err := bus.Connect(url)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := api.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	return api.SendToUid(uid, []byte(msg))
}
