package live

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/pion/webrtc/v4"

	"github.com/antt-gateway/antt/device/camera"
)

// NAT1To1 advertises External in place of the local address Local (any
// local address of External's family when empty) in the host candidates:
// a known 1:1 NAT in front of the board. With KeepLocal the local address
// is advertised too, beside External and on the same shared UDP port, so
// a viewer on the site's LAN still reaches it directly: what a server
// reflexive rule is for.
//
// As must be "host" or empty. "srflx" is refused: pion v4.2.26 (ice
// v4.4.8, gatherCandidatesSrflxMapped) gathers a mapped server reflexive
// candidate on a socket of its own, bound to 0.0.0.0 on a random port,
// never on the UDP mux; the candidate says "raddr 0.0.0.0" and names a
// port that is not live.udp_port, so a NAT or firewall that forwards only
// that port never passes it (pion/webrtc issue 1791).
type NAT1To1 struct {
	External, Local, As string
	KeepLocal           bool
}

// setNAT hands the 1:1 NAT rules to pion's address rewriting.
func setNAT(se *webrtc.SettingEngine, rules []NAT1To1) error {
	if len(rules) == 0 {
		return nil
	}
	out := make([]webrtc.ICEAddressRewriteRule, 0, len(rules))
	for i, r := range rules {
		if net.ParseIP(r.External) == nil {
			return fmt.Errorf("live: NAT1To1[%d]: external %q is not an IP address", i, r.External)
		}
		if r.Local != "" && net.ParseIP(r.Local) == nil {
			return fmt.Errorf("live: NAT1To1[%d]: local %q is not an IP address", i, r.Local)
		}
		rule := webrtc.ICEAddressRewriteRule{External: []string{r.External}, Local: r.Local, Mode: webrtc.ICEAddressRewriteReplace}
		if r.KeepLocal {
			rule.Mode = webrtc.ICEAddressRewriteAppend
		}
		switch r.As {
		case "", "host":
			rule.AsCandidateType = webrtc.ICECandidateTypeHost
		case "srflx":
			return fmt.Errorf("live: NAT1To1[%d]: as srflx: pion gathers such a candidate on a socket of its own (0.0.0.0, a random port), not on the shared UDP port; use as host, with KeepLocal to advertise the local address too", i)
		default:
			return fmt.Errorf("live: NAT1To1[%d]: as %q: want host", i, r.As)
		}
		out = append(out, rule)
	}
	if err := se.SetICEAddressRewriteRules(out...); err != nil {
		return fmt.Errorf("live: 1:1 NAT rules: %w", err)
	}
	return nil
}

// cameraLimit is a camera's viewer limit.
func (m *Manager) cameraLimit(name string) int {
	if m.opts.CameraMaxViewers != nil {
		if n := m.opts.CameraMaxViewers(name); n > 0 {
			return min(n, m.opts.MaxViewers)
		}
	}
	return m.opts.MaxViewersPerCamera
}

// authorized lets loopback clients through and asks every other client
// for the bearer token (compared in constant time).
func (m *Manager) authorized(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err == nil && ip != nil && ip.IsLoopback() {
			h(w, r)
			return
		}
		if m.opts.WHEPToken == "" {
			whepError(w, http.StatusForbidden, "whep: only loopback clients are served: set api.token_file (with api.allow_remote) for others")
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(m.opts.WHEPToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="whep"`)
			whepError(w, http.StatusUnauthorized, "whep: missing or wrong bearer token")
			return
		}
		h(w, r)
	}
}

// substream finds camera name's low-quality hub.
func (m *Manager) substream(name string) (*camera.Hub, bool) {
	for _, h := range m.opts.Substreams {
		if h.Name() == name {
			return h, true
		}
	}
	return nil, false
}
