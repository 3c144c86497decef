//go:build !unix

package broker

import "net"

// connPair falls back to net.Pipe where there are no Unix socket pairs; it
// is unbuffered, so a resumed session with queued messages can stall there.
func connPair() (a, b net.Conn, err error) {
	a, b = net.Pipe()
	return a, b, nil
}
