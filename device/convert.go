package device

import (
	"fmt"
	"net/url"
	"time"

	"github.com/antt-gateway/antt/device/config"
	"github.com/antt-gateway/antt/sensors"
	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/wire"
)

// uplinkConfig turns the uplink section into the session's settings,
// loading the TLS files it names.
func uplinkConfig(cfg *config.Config, boot string, started time.Time) (uplink.Config, error) {
	u := cfg.Uplink
	broker, err := url.Parse(u.Broker)
	if err != nil {
		return uplink.Config{}, fmt.Errorf("uplink.broker %q: %w", u.Broker, err)
	}
	uc := uplink.Config{
		Broker:            broker,
		Prefix:            u.Prefix,
		Gateway:           cfg.Gateway.ID,
		ClientID:          u.ClientID,
		Username:          u.Username,
		Password:          u.Password.Reveal(),
		KeepAlive:         u.Keepalive,
		TelemetryInterval: u.TelemetryInterval,
		Window:            u.Window,
		Version:           Version,
		Boot:              boot,
		Started:           started,
	}
	if u.TLS {
		t := u.TLSFiles
		uc.TLS, err = uplink.TLSConfig(t.CA, t.Cert, t.Key, t.ServerName)
		if err != nil {
			return uplink.Config{}, fmt.Errorf("uplink.tls: %w", err)
		}
	}
	return uc, nil
}

// sensorConfig turns one sensors entry into the driver's settings.
func sensorConfig(s config.Sensor) sensors.Config {
	c := sensors.Config{
		Name:      s.Name,
		Kind:      driverKind(s.Kind),
		Driver:    s.Driver,
		Pin:       s.Pin,
		ActiveLow: s.Active == "low",
		Pull:      s.Pull,
		Debounce:  s.Debounce,
		Hold:      s.Hold,
		Every:     s.Every,
		// A door opened or a box tampered while the power was off must be
		// seen; motion found at start is only the state (a PIR at a gate
		// sees people all day).
		ReportAtStart: s.Kind != wire.KindMotion,
	}
	if s.Initial != "" {
		c.Initial = (s.Initial == "high") != c.ActiveLow
	}
	for _, st := range s.Script {
		// A script's level is the electrical level; with active: low, low is active.
		c.Script = append(c.Script, sensors.Step{At: st.At, Active: (st.Level == "high") != c.ActiveLow})
	}
	return c
}
