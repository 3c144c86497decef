package config

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/antt-gateway/antt/device/camera/credurl"
)

// warnPlainCredentials warns about a camera URL (key url or snapshot_url)
// whose credentials may cross the network in clear: over rtsp:// or
// http:// the user info is safe only if the camera asks for Digest, and
// which scheme it asks for is known only when it answers (the camera's
// status then says so); credentials in the query or path go in every
// request as written. Warnings never echo the URL.
func warnPlainCredentials(f *fields, key, raw string) {
	u, err := url.Parse(raw)
	if err != nil {
		return // reported by checkURL
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "rtsp" && scheme != "http" {
		return
	}
	secure := map[string]string{"rtsp": "rtsps://", "http": "https://"}[scheme]
	found := credurl.Find(u)
	if found.UserInfo {
		f.warnf(key, "credentials over plain %s://: if the camera asks for Basic authentication its password crosses the network in clear (Digest does not send it; the camera's status warns when Basic was used); set the camera to Digest, or use %s", scheme, secure)
	}
	if len(found.Params) > 0 {
		f.warnf(key, "credentials in the URL itself (%s) are sent in clear with every request over plain %s://; put them in the user info (%s://user:password@host/...) and set the camera to Digest, or use %s",
			strings.Join(quoteAll(found.Params), ", "), scheme, scheme, secure)
	}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%.40q", s)
	}
	return out
}
