package device

import (
	"fmt"
	"net/url"
	"time"

	"github.com/antt-gateway/antt/device/config"
	"github.com/antt-gateway/antt/uplink"
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
