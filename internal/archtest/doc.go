// Package archtest holds the tests that keep the tree's layout honest: the
// import graph between Switchboard's packages (bus is the user's package
// and links neither gateway, worker nor nats-server; gateway and worker do
// not know each other; no library package reaches into cmd/ or examples/),
// and which files may build or parse NATS subjects. It has no code of its
// own.
package archtest
