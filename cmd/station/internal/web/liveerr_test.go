package web

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/antt-gateway/antt/uplink/live"
)

// The relay's common errors, as the station and the gateway word them,
// have a message in each language; others are shown as they came.
func TestLiveErrorsLocalised(t *testing.T) {
	msgs := map[string]string{
		"no such gateway": "liveerr.no_gateway",
		"no such camera":  "liveerr.no_camera",
		"the gateway refused: " + fmt.Errorf("%w: cam9", live.ErrUnknownCamera).Error():                         "liveerr.no_camera",
		fmt.Errorf("%w: gate-cam", live.ErrCameraNotReady).Error():                                              "liveerr.not_ready",
		fmt.Errorf("%w: camera gate-cam serves at most 2 viewers", live.ErrTooManyViewers).Error():              "liveerr.gw_viewers",
		fmt.Sprintf("the station relays %d live views already (its limit)", liveMaxSessions):                    "liveerr.station_full",
		fmt.Sprintf("your account has %d live views open already (the limit): close one first", liveMaxPerUser): "liveerr.user_full",
		ErrNoReply.Error():               "liveerr.no_reply",
		context.DeadlineExceeded.Error(): "liveerr.no_reply",
		"this console cannot open live views (no broker connection)": "liveerr.no_broker",
		fmt.Errorf("%w: VP9 only", live.ErrUnsupportedCodec).Error(): "liveerr.codec",
		"no such live view (closed, expired, or not yours)":          "liveerr.session_ended",
	}
	for m, key := range msgs {
		if got := liveErrKey(m); got != key {
			t.Errorf("%q: key %q, want %q", m, got, key)
			continue
		}
		vi, en := liveErrText(LangVI, m), liveErrText(LangEN, m)
		if vi == m || en == m || vi == en || vi == key || en == key {
			t.Errorf("%q: vi %q, en %q", m, vi, en)
		}
	}
	for _, e := range liveErrKeys {
		if m, ok := catalogue[e.key]; !ok || m.vi == "" || m.en == "" {
			t.Errorf("key %s (for %q) not in the catalogue in both languages", e.key, e.frag)
		}
	}
	const other = "the gateway's reply: session \"x\", 0 bytes of answer"
	if got := liveErrText(LangVI, other); got != other || !strings.Contains(got, "reply") {
		t.Errorf("an unlisted error: %q", got)
	}
}
