package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The live: keys and the cameras' live keys: defaults, values, and each
// bad value refused with its key and line.
func TestLiveKeys(t *testing.T) {
	base := "gateway: {id: a}\nuplink: {broker: mqtt://h}\n"
	cfg, err := Parse([]byte(base), LookupEnv(noEnv))
	if err != nil {
		t.Fatal(err)
	}
	if l := cfg.Live; l.UDPPort != DefaultLiveUDPPort || l.MaxSession != 10*time.Minute || l.LoopbackCandidates || l.MDNS || l.Interfaces != nil || l.NAT1To1 != nil {
		t.Errorf("live defaults: %+v", l)
	}
	cfg, err = Parse([]byte(base+`live:
  udp_port: 0
  interfaces: [lo]
  nat_1to1: [{external: "2001:db8::1", as: host, keep_local: true}]
  loopback_candidates: true
  mdns: true
  max_session: 30s
cameras:
  - {name: c, url: "rtsp://10.0.0.2/main", substream_url: "rtsp://10.0.0.2/sub", max_viewers: 1}
`), LookupEnv(noEnv))
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Live
	if l.UDPPort != 0 || len(l.Interfaces) != 1 || l.NAT1To1[0] != (NAT1To1{External: "2001:db8::1", As: "host", KeepLocal: true}) || !l.LoopbackCandidates || !l.MDNS || l.MaxSession != 30*time.Second {
		t.Errorf("live = %+v", l)
	}
	if c := cfg.Cameras[0]; c.SubstreamURL != "rtsp://10.0.0.2/sub" || c.MaxViewers != 1 {
		t.Errorf("camera = %+v", c)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0].String(), "live.loopback_candidates") {
		t.Errorf("warnings: %v", cfg.Warnings)
	}
	back, err := Parse([]byte(cfg.Redacted()), LookupEnv(noEnv))
	if err != nil || back.Live.MaxSession != l.MaxSession || back.Live.NAT1To1[0] != l.NAT1To1[0] || back.Cameras[0].MaxViewers != 1 {
		t.Errorf("redacted round trip: %v\n%s", err, cfg.Redacted())
	}

	for _, c := range []struct{ yaml, want string }{
		{"live: {udp_port: 70000}", "line 3: live.udp_port: 70000 is not a port number"},
		{"live: {udp_port: x}", "live.udp_port"},
		{"live: {interfaces: [eth0, eth0]}", `line 3: live.interfaces[1]: "eth0" is listed twice`},
		{"live: {interfaces: [averyveryverylongname]}", "live.interfaces[0]: \"averyveryverylongname\" is not a network interface name"},
		{"live: {nat_1to1: [{local: 10.0.0.1}]}", "live.nat_1to1[0].external: is required"},
		{"live: {nat_1to1: [{external: gw.example}]}", `live.nat_1to1[0].external: "gw.example" is not an IP address`},
		{"live: {nat_1to1: [{external: 1.2.3.4, as: srflx}]}", "live.nat_1to1[0].as"},
		{"live: {nat_1to1: [{external: 1.2.3.4, colour: red}]}", "colour"},
		{"live: {nat_1to1: [{external: 1.2.3.4, keep_local: maybe}]}", "live.nat_1to1[0].keep_local"},
		{"live: {mdns: yes}", "live.mdns: must be true or false"},
		{"live: {max_session: 5s}", "live.max_session: 5s is out of range"},
		{"live: {udp_prot: 1}", "udp_prot"},
		{"cameras: [{name: c, url: 'rtsp://h/x', max_viewers: 99}]", "cameras[0].max_viewers: 99 is out of range"},
		{"cameras: [{name: c, url: 'rtsp://h/x', substream_url: 'http://h/x'}]", "cameras[0].substream_url"},
		{"api: {token_file: /nonexistent/token}", "api.token_file: cannot read"},
	} {
		_, err := Parse([]byte(base+c.yaml+"\n"), LookupEnv(noEnv))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.yaml, err, c.want)
		}
	}
}

// api.token_file: read, trimmed, long enough, never printed.
func TestLiveAPIToken(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "token")
	if err := os.WriteFile(good, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "gateway: {id: a}\nuplink: {broker: mqtt://h}\n"
	cfg, err := Parse([]byte(base+"api: {listen: '0.0.0.0:8080', allow_remote: true, token_file: '"+good+"'}\n"), LookupEnv(noEnv))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API.Token.Reveal() != "0123456789abcdef0123456789abcdef" {
		t.Errorf("token %q", cfg.API.Token.Reveal())
	}
	if strings.Contains(cfg.Redacted(), "0123456789abcdef") {
		t.Error("the token is in Redacted")
	}
	_, err = Parse([]byte(base+"api: {token_file: '"+short+"'}\n"), LookupEnv(noEnv))
	if err == nil || !strings.Contains(err.Error(), "line 3: api.token_file: the token is 3 characters; use at least 22") {
		t.Errorf("short token: %v", err)
	}
}
