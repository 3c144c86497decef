package config

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"

	"github.com/antt-gateway/antt/device/camera/credurl"
)

// redacted is what a secret prints as anywhere it could reach a log.
const redacted = "[redacted]"

// Secret is a password or credential. Every way Go has of printing a value
// (fmt verbs including %#v, encoding/json, YAML, log/slog) prints
// "[redacted]" for it, so that logging a Config or an error wrapping one
// never leaks it. An empty Secret prints as "" so that "not set" stays
// visible. Use Reveal where the real value is needed.
type Secret string

// Reveal returns the secret itself, for handing to the MQTT client or the
// TURN server and nothing else.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer (%#v).
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.String()) }

// Format implements fmt.Formatter so that no verb (%x, %q, %d ...) can reach
// the underlying string.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, s.GoString())
		return
	}
	if verb == 'q' {
		_, _ = fmt.Fprintf(f, "%q", s.String())
		return
	}
	_, _ = io.WriteString(f, s.String())
}

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return fmt.Appendf(nil, "%q", s.String()), nil }

// MarshalText implements encoding.TextMarshaler (map keys, encoders other
// than JSON).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalYAML implements yaml.Marshaler.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// SecretURL is a URL that may carry a password in its user info, like a
// camera's rtsp://viewer:secret@192.168.1.64:554/..., or in its query or
// path (?user=admin&password=..., pwd=, token=, auth=: see package
// credurl). Printed, marshalled or logged it shows the URL with the
// password replaced by "xxxxx" (as url.URL.Redacted does) and every secret
// parameter's value too, so the host stays visible in logs but the password
// does not. Reveal returns the full URL.
type SecretURL string

// Reveal returns the URL with its password, for dialling the camera.
func (u SecretURL) Reveal() string { return string(u) }

// String implements fmt.Stringer.
func (u SecretURL) String() string {
	if u == "" {
		return ""
	}
	p, err := url.Parse(string(u))
	if err != nil {
		// An unparsable URL is not printed at all: its password could be
		// anywhere in it.
		return redacted
	}
	// Vendors also take credentials in the query or the path
	// (?user=admin&password=...): their values are masked the same way.
	p = credurl.Mask(p)
	if p.User == nil {
		return p.String()
	}
	if _, ok := p.User.Password(); ok {
		return p.Redacted()
	}
	return p.String()
}

// GoString implements fmt.GoStringer (%#v).
func (u SecretURL) GoString() string { return fmt.Sprintf("config.SecretURL(%q)", u.String()) }

// Format implements fmt.Formatter so that no verb can reach the password.
func (u SecretURL) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, u.GoString())
	case verb == 'q':
		_, _ = fmt.Fprintf(f, "%q", u.String())
	default:
		_, _ = io.WriteString(f, u.String())
	}
}

// MarshalJSON implements json.Marshaler.
func (u SecretURL) MarshalJSON() ([]byte, error) { return fmt.Appendf(nil, "%q", u.String()), nil }

// MarshalText implements encoding.TextMarshaler.
func (u SecretURL) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// MarshalYAML implements yaml.Marshaler.
func (u SecretURL) MarshalYAML() (any, error) { return u.String(), nil }

// LogValue implements slog.LogValuer.
func (u SecretURL) LogValue() slog.Value { return slog.StringValue(u.String()) }
