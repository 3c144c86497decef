package config

import (
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Redacted returns the effective configuration (defaults filled in,
// relative paths resolved) as YAML that Parse accepts back, except that
// secrets are shown as "[redacted]" and passwords in camera URLs as
// "xxxxx". It is what `gateway check-config` prints and what is safe to
// attach to a support request.
func (c *Config) Redacted() string {
	root := &mapNode{}
	g := root.mapping("gateway")
	g.str("id", c.Gateway.ID)
	g.strOpt("site", c.Gateway.Site)
	g.str("data_dir", c.Gateway.DataDir)
	g.str("timezone", c.Gateway.Timezone)

	u := root.mapping("uplink")
	u.str("broker", c.Uplink.Broker)
	u.str("prefix", c.Uplink.Prefix)
	u.strOpt("username", c.Uplink.Username)
	if c.Uplink.Password != "" {
		u.str("password", c.Uplink.Password.String())
		u.comment("from " + c.Uplink.PasswordSource)
	}
	if t := c.Uplink.TLSFiles; t != (TLS{}) {
		tm := u.mapping("tls")
		tm.strOpt("ca", t.CA)
		tm.strOpt("cert", t.Cert)
		tm.strOpt("key", t.Key)
		tm.strOpt("server_name", t.ServerName)
	}
	u.dur("keepalive", c.Uplink.Keepalive)
	u.dur("telemetry_interval", c.Uplink.TelemetryInterval)
	u.int("window", c.Uplink.Window)
	u.str("client_id", c.Uplink.ClientID)

	root.mapping("outbox").str("max_bytes", FormatSize(c.Outbox.MaxBytes))

	a := root.mapping("api")
	a.str("listen", c.API.Listen)
	if c.API.AllowRemote {
		a.bool("allow_remote", true)
	}

	if len(c.Sensors) > 0 {
		l := root.list("sensors")
		for i, s := range c.Sensors {
			m := l.mapping()
			m.str("name", s.Name)
			m.str("kind", s.Kind)
			m.str("driver", s.Driver)
			m.strOpt("pin", s.Pin)
			m.str("active", s.Active)
			m.str("pull", s.Pull)
			m.dur("debounce", s.Debounce)
			m.dur("hold", s.Hold)
			if s.Every > 0 {
				m.dur("every", s.Every)
			}
			m.strOpt("initial", s.Initial)
			if len(s.Script) > 0 {
				sl := m.list("script")
				for _, st := range s.Script {
					sm := sl.mapping()
					sm.n.Style = yaml.FlowStyle
					sm.dur("at", st.At)
					sm.str("level", st.Level)
				}
			}
			c.redactSensorAlarm(m, i)
		}
	}
	if len(c.Cameras) > 0 {
		l := root.list("cameras")
		for _, cam := range c.Cameras {
			m := l.mapping()
			m.str("name", cam.Name)
			m.str("url", cam.URL.String())
			m.strOpt("tls_fingerprint", cam.TLSFingerprint)
			m.strOpt("snapshot_url", cam.SnapshotURL.String())
			if len(cam.SnapshotOn) > 0 {
				m.strs("snapshot_on", cam.SnapshotOn)
			}
			if cam.Preload {
				m.bool("preload", true)
			}
			m.dur("offline_after", cam.OfflineAfter)
			m.strOpt("substream_url", cam.SubstreamURL.String())
			if cam.MaxViewers > 0 {
				m.int("max_viewers", cam.MaxViewers)
			}
		}
	}
	if len(c.Outputs) > 0 {
		l := root.list("outputs")
		for _, o := range c.Outputs {
			m := l.mapping()
			m.str("name", o.Name)
			m.strOpt("pin", o.Pin)
			m.str("active", o.Active)
			m.dur("max_on", o.MaxOn)
			redactOutputAlarm(m, o)
		}
	}
	lv := root.mapping("live")
	if len(c.Live.ICEServers) > 0 {
		l := lv.list("ice_servers")
		for _, s := range c.Live.ICEServers {
			m := l.mapping()
			m.strs("urls", s.URLs)
			m.strOpt("username", s.Username)
			m.strOpt("credential", s.Credential.String())
		}
	}
	lv.bool("force_relay", c.Live.ForceRelay)
	lv.int("max_viewers", c.Live.MaxViewers)
	redactLive(lv, c.Live)
	c.redactAlarm(root)
	if w := c.Watchdog; w != nil {
		wm := root.mapping("watchdog")
		wm.str("device", w.Device)
		wm.dur("timeout", w.Timeout)
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root.n); err != nil {
		// Encoding a tree of plain scalars cannot fail; say so rather
		// than print half a config.
		return "# cannot print configuration: " + err.Error() + "\n"
	}
	_ = enc.Close()
	return b.String()
}

// mapNode and listNode build a yaml.Node tree in the order the file is
// written, which a struct marshal would not keep for durations and sizes.
type mapNode struct{ n *yaml.Node }

type listNode struct{ n *yaml.Node }

func (m *mapNode) node() *yaml.Node {
	if m.n == nil {
		m.n = &yaml.Node{Kind: yaml.MappingNode}
	}
	return m.n
}

func (m *mapNode) set(key string, v *yaml.Node) {
	n := m.node()
	n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
}

func scalar(tag, v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v} }

func (m *mapNode) str(k, v string) { m.set(k, scalar("!!str", v)) }

func (m *mapNode) strOpt(k, v string) {
	if v != "" {
		m.str(k, v)
	}
}

func (m *mapNode) dur(k string, d time.Duration) { m.set(k, scalar("!!str", fmtDur(d))) }
func (m *mapNode) int(k string, v int)           { m.set(k, scalar("!!int", strconv.Itoa(v))) }
func (m *mapNode) bool(k string, v bool)         { m.set(k, scalar("!!bool", strconv.FormatBool(v))) }

// comment attaches a line comment to the last value set.
func (m *mapNode) comment(c string) {
	if n := m.node(); len(n.Content) > 0 {
		n.Content[len(n.Content)-1].LineComment = c
	}
}

func (m *mapNode) strs(k string, vs []string) {
	l := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, v := range vs {
		l.Content = append(l.Content, scalar("!!str", v))
	}
	m.set(k, l)
}

func (m *mapNode) mapping(k string) *mapNode {
	c := &mapNode{n: &yaml.Node{Kind: yaml.MappingNode}}
	m.set(k, c.n)
	return c
}

func (m *mapNode) list(k string) *listNode {
	l := &listNode{n: &yaml.Node{Kind: yaml.SequenceNode}}
	m.set(k, l.n)
	return l
}

func (l *listNode) mapping() *mapNode {
	c := &mapNode{n: &yaml.Node{Kind: yaml.MappingNode}}
	l.n.Content = append(l.n.Content, c.n)
	return c
}

// fmtDur prints durations as written in files: "10s", not "10.000s" or
// "0s" spelled oddly.
func fmtDur(d time.Duration) string {
	s := d.String()
	// time.Duration prints 1m30s as "1m30s" and 10s as "10s"; whole
	// minutes and hours as "3m0s" / "1h0m0s", which is trimmed.
	for len(s) > 2 && (s[len(s)-2:] == "0s" || s[len(s)-2:] == "0m") && d != 0 {
		trimmed := s[:len(s)-2]
		if trimmed[len(trimmed)-1] < '0' || trimmed[len(trimmed)-1] > '9' {
			s = trimmed
			continue
		}
		break
	}
	return s
}
