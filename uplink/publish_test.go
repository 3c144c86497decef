package uplink

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
)

// Publish refuses what a gateway must never publish before looking for a
// connection, and says when there is none. The publishing itself runs
// through a real Mosquitto in uplink/live's TestLiveTrickleOverMQTT.
func TestPublishChecks(t *testing.T) {
	u, _ := url.Parse("mqtt://127.0.0.1:1")
	s := New(Config{Broker: u, Gateway: "cong-khu-3"}, nil, nil, nil, nil)
	ctx := context.Background()
	for levels, want := range map[string]string{
		"":                 "bad topic levels",
		"/x":               "bad topic levels",
		"live//candidate":  "bad topic levels",
		"live/+/candidate": "wildcard",
		"live/#":           "wildcard",
		"cmd/ping":         "never publishes under cmd/",
		"cmd":              "never publishes under cmd/",
	} {
		if err := s.Publish(ctx, levels, 1, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Publish(%q): %v, want an error containing %q", levels, err, want)
		}
	}
	if err := s.Publish(ctx, "live/x/candidate", 2, nil); err == nil || !strings.Contains(err.Error(), "QoS 2") {
		t.Errorf("QoS 2: %v", err)
	}
	if err := s.Publish(ctx, "live/x/candidate", 1, []byte("{}")); !errors.Is(err, ErrNotConnected) {
		t.Errorf("not connected: %v, want ErrNotConnected", err)
	}
}
