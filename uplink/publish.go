package uplink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/antt-gateway/antt/uplink/wire"
)

// ErrNotConnected is returned by Publish while the session has no broker
// connection.
var ErrNotConnected = errors.New("uplink: not connected")

// publishTimeout bounds Publish's wait for a PUBACK when ctx has no
// earlier deadline.
const publishTimeout = 10 * time.Second

// Publish sends payload on {prefix}/{gateway}/{levels} with the current
// connection and, for QoS 1, waits for the broker's PUBACK (at most 10 s
// or until ctx ends). It is for messages other parts own (live view's
// trickled candidates); nothing is stored or re-sent after a reconnect, so
// what must not be lost goes through the outbox instead. levels must not
// be empty, hold wildcards or name the cmd/ tree (the broker refuses it).
func (s *Session) Publish(ctx context.Context, levels string, qos byte, payload []byte) error {
	switch {
	case levels == "" || strings.HasPrefix(levels, "/") || strings.HasSuffix(levels, "/") || strings.Contains(levels, "//"):
		return fmt.Errorf("uplink: publish: bad topic levels %q", levels)
	case strings.ContainsAny(levels, "+#\x00"):
		return fmt.Errorf("uplink: publish: wildcard in topic levels %q", levels)
	case levels == wire.TopicCmd || strings.HasPrefix(levels, wire.TopicCmd+"/"):
		return fmt.Errorf("uplink: publish: %q: a gateway never publishes under cmd/", levels)
	case qos > 1:
		return fmt.Errorf("uplink: publish %q: QoS %d: want 0 or 1", levels, qos)
	}
	c := s.current()
	if c == nil {
		return fmt.Errorf("publish %s: %w", levels, ErrNotConnected)
	}
	tok := c.Publish(s.topics.Base()+levels, qos, false, payload)
	if qos == 0 {
		return nil
	}
	t := time.NewTimer(publishTimeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("uplink: publish %s: %w", levels, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("uplink: publish %s: %w", levels, ctx.Err())
	case <-t.C:
		return fmt.Errorf("uplink: publish %s: no PUBACK within %s", levels, publishTimeout)
	}
}
