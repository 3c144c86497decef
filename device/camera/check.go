package camera

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/antt-gateway/antt/device/camera/rtsp"
)

// Check tells whether the camera at rawURL answers, without pulling media:
// for RTSP it connects and performs OPTIONS and DESCRIBE (so a wrong
// password or a camera offering nothing usable fails the check too), then
// closes the connection; for a file it checks that the file can be read.
// A hub checks an idle camera this way, so a camera nobody watches is
// still reported offline.
func Check(ctx context.Context, rawURL string, opts Options) error {
	_, err := check(ctx, rawURL, opts)
	return err
}

// check is Check that also tells whether the camera took the password as
// Basic over plain rtsp:// (even when the check then failed).
func check(ctx context.Context, rawURL string, opts Options) (basicInClear bool, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false, fmt.Errorf("camera: parse url %s: %w", rtsp.Redact(rawURL), errors.Unwrap(err))
	}
	switch strings.ToLower(u.Scheme) {
	case "rtsp", "rtsps":
		c, err := rtsp.Dial(ctx, rawURL, rtspConfig(opts))
		if err != nil {
			return false, err
		}
		defer c.Close()
		if err := c.Options(ctx); err != nil {
			return c.BasicInClear(), err
		}
		d, err := c.Describe(ctx)
		if err != nil {
			return c.BasicInClear(), err
		}
		var offered []string
		for _, m := range d.Medias {
			switch {
			case m.Type == "video" && (m.Codec == "H264" || m.Codec == "H265"),
				m.Type == "audio" && (m.Codec == "PCMA" || m.Codec == "PCMU") && !opts.NoAudio:
				return c.BasicInClear(), nil
			}
			offered = append(offered, m.Type+"/"+m.Codec)
		}
		return c.BasicInClear(), fmt.Errorf("%w at %s (offered: %s)", ErrNoMedia, c.URL(), strings.Join(offered, ", "))
	case "file":
		p := u.Path
		if u.Opaque != "" {
			p = u.Opaque
		}
		f, err := os.Open(p)
		if err != nil {
			return false, fmt.Errorf("camera: %w", err)
		}
		defer f.Close()
		if _, err := f.Read(make([]byte, 4)); err != nil {
			return false, fmt.Errorf("camera: read %s: %w", p, err)
		}
		return false, nil
	default:
		return false, fmt.Errorf("camera: url %s: scheme %q not supported (rtsp, rtsps or file)", rtsp.Redact(rawURL), u.Scheme)
	}
}

// rtspConfig is the rtsp client configuration for opts, shared by Open and
// Check so both meet the camera the same way.
func rtspConfig(opts Options) rtsp.Config {
	return rtsp.Config{Transport: opts.Transport, Timeout: opts.Timeout, StallTimeout: opts.StallTimeout, Logger: opts.Logger,
		TLSFingerprint: opts.TLSFingerprint}
}
