package watchdog

import (
	"fmt"
	"net"
	"strings"
)

// notifier sends sd_notify(3) datagrams to systemd's notify socket.
type notifier struct {
	addr *net.UnixAddr
}

// newNotifier checks a NOTIFY_SOCKET value: an absolute path or an abstract
// name written with a leading '@' (which Go's net package maps to the
// leading NUL byte). Other forms (vsock:) are not supported.
func newNotifier(sock string) (*notifier, error) {
	switch {
	case strings.HasPrefix(sock, "/"), strings.HasPrefix(sock, "@") && len(sock) > 1:
	default:
		return nil, fmt.Errorf("watchdog: NOTIFY_SOCKET=%q: want an absolute socket path or an @abstract name", sock)
	}
	// sun_path holds 108 bytes, including the terminating NUL for paths.
	if len(sock) > 107 {
		return nil, fmt.Errorf("watchdog: NOTIFY_SOCKET=%q: longer than a unix socket address can be", sock)
	}
	return &notifier{addr: &net.UnixAddr{Name: sock, Net: "unixgram"}}, nil
}

// send delivers one state message. Each message gets its own socket, as with
// sd_notify, so a systemd that re-executed itself is found again.
func (n *notifier) send(state string) error {
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("send %s to %s: %w", state, n.addr.Name, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("send %s to %s: %w", state, n.addr.Name, err)
	}
	return nil
}
