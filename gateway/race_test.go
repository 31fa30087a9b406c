//go:build race

package gateway

// raceEnabled: the race detector adds allocations and makes sync.Pool drop
// objects at random, so allocation counts are not checked under it.
const raceEnabled = true
