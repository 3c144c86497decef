//go:build !race

package broker

// raceEnabled: the race detector slows PBKDF2 about tenfold.
const raceEnabled = false
