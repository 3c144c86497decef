package main

import (
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// Review (R2): -turn-allow-peers takes CIDR networks and names a bad one.
func TestTURNAllowPeersFlag(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		val, want string
	}{
		{"192.168.1.0/24,nonsense", `-turn-allow-peers "nonsense"`},
		{"192.168.1.1", `-turn-allow-peers "192.168.1.1"`},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		f := registerLiveFlags(fs)
		if err := fs.Parse([]string{"-turn", "127.0.0.1:0", "-turn-tls", "", "-turn-allow-peers", tc.val}); err != nil {
			t.Fatal(err)
		}
		ts, err := startTURN(f, "127.0.0.1", nil, log, io.Discard)
		if ts != nil {
			_ = ts.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.val, err, tc.want)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	f := registerLiveFlags(fs)
	_ = fs.Parse([]string{"-turn", "127.0.0.1:0", "-turn-tls", "", "-turn-allow-peers", " 192.168.1.0/24, 10.0.0.0/8 "})
	ts, err := startTURN(f, "127.0.0.1", nil, log, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	_ = ts.Close()
}
