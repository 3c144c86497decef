package config

import (
	"fmt"
	"net"
	"slices"
	"time"
)

// Live-view defaults beyond max_viewers.
const (
	// DefaultLiveUDPPort is the one UDP port every live session shares (ICE
	// UDP mux). A fixed port is what an installer can forward on a site's
	// router or allow in a firewall; 8189 is MediaMTX's WebRTC UDP port, so
	// it is the one installers of WebRTC cameras already know. 0 asks for a
	// free port per address (tests, several gateways on one machine).
	DefaultLiveUDPPort = 8189
	// DefaultLiveMaxSession closes a session not renewed (live.renew) for
	// this long, so a forgotten tab does not burn a prepaid SIM's data.
	DefaultLiveMaxSession = 10 * time.Minute
	// minAPITokenLen is the shortest api.token_file accepted: 128 bits of
	// hex or base64 text.
	minAPITokenLen = 22
)

// NAT1To1 is a live.nat_1to1 rule: a known 1:1 NAT in front of the board
// (a fixed public address forwarded to it). External is advertised in the
// board's host candidates in place of Local (any local address of its
// family when empty). As is "host", the only kind that works with the
// shared UDP port: pion v4.2.26 advertises 0.0.0.0 for a server reflexive
// rewrite on a UDP mux (seen in uplink/live's tests).
type NAT1To1 struct {
	External string `json:"external"`
	Local    string `json:"local,omitempty"`
	As       string `json:"as"`
	// KeepLocal advertises Local beside External, both on the shared
	// port, for viewers on the board's own LAN.
	KeepLocal bool `json:"keep_local,omitempty"`
}

// liveKeys are the keys of the live: section.
var liveKeys = []string{"ice_servers", "force_relay", "max_viewers", "udp_port", "interfaces", "nat_1to1",
	"loopback_candidates", "mdns", "max_session"}

// liveNet reads the live: keys for the network and the sessions' length.
func (d *decoder) liveNet(l *Live, f *fields) {
	l.UDPPort = DefaultLiveUDPPort
	l.MaxSession = DefaultLiveMaxSession
	if f.integer("udp_port", &l.UDPPort) && (l.UDPPort < 0 || l.UDPPort > 65535) {
		f.errf("udp_port", "%d is not a port number; use 1-65535, or 0 for a free port", l.UDPPort)
	}
	names, lines := f.strList("interfaces")
	for i, n := range names {
		p := fmt.Sprintf("%s[%d]", f.key("interfaces"), i)
		switch {
		case n == "" || len(n) > 15:
			d.add(lines[i], p, "%q is not a network interface name (like eth0, wwan0)", n)
		case slices.Contains(l.Interfaces, n):
			d.add(lines[i], p, "%q is listed twice", n)
		default:
			l.Interfaces = append(l.Interfaces, n)
		}
	}
	for _, r := range d.items(f, "nat_1to1", "external", "local", "as", "keep_local") {
		var n NAT1To1
		if r.str("external", &n.External) {
			if ip := net.ParseIP(n.External); ip == nil {
				r.errf("external", "%q is not an IP address", n.External)
			}
		} else if r.missing("external") {
			r.errf("external", "is required: the public address the NAT forwards to the board")
		}
		if r.str("local", &n.Local) && net.ParseIP(n.Local) == nil {
			r.errf("local", "%q is not an IP address", n.Local)
		}
		n.As = "host"
		r.oneOf("as", &n.As, "host")
		r.boolean("keep_local", &n.KeepLocal)
		l.NAT1To1 = append(l.NAT1To1, n)
	}
	f.boolean("loopback_candidates", &l.LoopbackCandidates)
	f.boolean("mdns", &l.MDNS)
	if f.duration("max_session", &l.MaxSession) && (l.MaxSession < 30*time.Second || l.MaxSession > 24*time.Hour) {
		f.errf("max_session", "%s is out of range; use 30s to 24h (viewers renew with live.renew)", l.MaxSession)
	}
	if l.LoopbackCandidates {
		f.warnf("loopback_candidates", "offers 127.0.0.1 to viewers: for tests and a viewer on the board itself")
	}
}

// cameraLive reads a camera's live-view keys: max_viewers and
// substream_url.
func (d *decoder) cameraLive(f *fields, c *Camera) {
	if f.integer("max_viewers", &c.MaxViewers) && (c.MaxViewers < 0 || c.MaxViewers > 64) {
		f.errf("max_viewers", "%d is out of range; use 1 to 64 (0 or absent: live.max_viewers)", c.MaxViewers)
	}
	var raw string
	if f.str("substream_url", &raw) {
		checkURL(f, "substream_url", raw, "rtsp", "rtsps")
		warnPlainCredentials(f, "substream_url", raw)
		c.SubstreamURL = SecretURL(raw)
	}
}

// apiToken reads api.token_file: the bearer token WHEP clients not on
// loopback must send (Authorization: Bearer) when api.allow_remote is set.
func (d *decoder) apiToken(a *API, f *fields) {
	if f.has("token_file") {
		if tok, _, ok := d.readSecret(f, "token_file"); ok {
			if len(tok) < minAPITokenLen {
				f.errf("token_file", "the token is %d characters; use at least %d (like the output of `openssl rand -hex 16`)", len(tok), minAPITokenLen)
			} else {
				a.Token = tok
			}
		}
	}
	// allow_remote without a token is not an error (the health and status
	// routes stay useful); WHEP then refuses every client not on loopback,
	// saying that api.token_file is missing.
}

// redactLive prints the live: keys liveNet reads.
func redactLive(lv *mapNode, l Live) {
	lv.int("udp_port", l.UDPPort)
	if len(l.Interfaces) > 0 {
		lv.strs("interfaces", l.Interfaces)
	}
	if len(l.NAT1To1) > 0 {
		rl := lv.list("nat_1to1")
		for _, n := range l.NAT1To1 {
			m := rl.mapping()
			m.str("external", n.External)
			m.strOpt("local", n.Local)
			m.str("as", n.As)
			if n.KeepLocal {
				m.bool("keep_local", true)
			}
		}
	}
	if l.LoopbackCandidates {
		lv.bool("loopback_candidates", true)
	}
	if l.MDNS {
		lv.bool("mdns", true)
	}
	lv.dur("max_session", l.MaxSession)
}
