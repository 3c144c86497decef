//go:build unix

package broker

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// connPair returns the two ends of a connected Unix stream socket pair.
func connPair() (a, b net.Conn, err error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	syscall.CloseOnExec(fds[0])
	syscall.CloseOnExec(fds[1])
	conn := func(fd int, name string) (net.Conn, error) {
		f := os.NewFile(uintptr(fd), name)
		defer f.Close() // FileConn dups the descriptor
		return net.FileConn(f)
	}
	if a, err = conn(fds[0], "station-client"); err != nil {
		syscall.Close(fds[1])
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	if b, err = conn(fds[1], "station-broker"); err != nil {
		a.Close()
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return a, b, nil
}
