package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/antt-gateway/antt/cmd/station/internal/accounts"
	"github.com/antt-gateway/antt/uplink/live"
)

// noReplyLive is a gateway that never answers (offline, its command
// lost): every command ends with ErrNoReply.
type noReplyLive struct{ fakeLive }

func (*noReplyLive) Command(context.Context, string, string, map[string]any) (json.RawMessage, error) {
	return nil, ErrNoReply
}

// liveErrBody is a live view API error.
type liveErrBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// liveAsk sends one live view API request with the browser's language.
func liveAsk(f *fixture, lang, method, path, cookie, ct, body string) resp {
	f.t.Helper()
	hr := httptest.NewRequest(method, "http://127.0.0.1:8080"+path, strings.NewReader(body))
	if ct != "" {
		hr.Header.Set("Content-Type", ct)
	}
	hr.Header.Set("Accept-Language", lang)
	hr.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	w := httptest.NewRecorder()
	f.s.ServeHTTP(w, hr)
	return resp{code: w.Code, body: w.Body.String(), header: w.Result().Header}
}

// Every error path of the live view API answers the English "error" for
// machine clients and a "message" in the browser's language, the one the
// tile shows: the catalogue's text for a known error, a sentence in the
// language around the detail otherwise.
func TestLiveErrorPathsLocalised(t *testing.T) {
	const cam = "/api/gateways/" + gwGate + "/cameras/gate-cam/live"
	type path struct {
		name         string
		setup        func(f *fixture, fl *fakeLive)
		method, path string
		ct, body     string
		code         int
		key          string // the catalogue key of the message
	}
	offer := func(name, p string, code int, key string, setup func(*fixture, *fakeLive)) path {
		return path{name: name, setup: setup, method: "POST", path: p, ct: "application/sdp", body: testOffer, code: code, key: key}
	}
	refuse := func(why string) func(*fixture, *fakeLive) {
		return func(_ *fixture, fl *fakeLive) { fl.refuse = why }
	}
	paths := []path{
		offer("bad camera name", "/api/gateways/"+gwGate+"/cameras/CAM/live", http.StatusBadRequest, "liveerr.bad_camera", nil),
		offer("bad quality", cam+"?quality=max", http.StatusBadRequest, "liveerr.bad_quality", nil),
		{name: "not SDP", method: "POST", path: cam, ct: "application/json", body: "{}", code: http.StatusUnsupportedMediaType, key: "liveerr.bad_offer"},
		{name: "garbage SDP", method: "POST", path: cam, ct: "application/sdp", body: "hello", code: http.StatusBadRequest, key: "liveerr.bad_offer"},
		offer("no such gateway", "/api/gateways/no-such-gw/cameras/cam/live", http.StatusNotFound, "liveerr.no_gateway", nil),
		offer("no such camera", "/api/gateways/"+gwGate+"/cameras/other-cam/live", http.StatusNotFound, "liveerr.no_camera", nil),
		offer("gateway: too many viewers", cam, http.StatusServiceUnavailable, "liveerr.gw_viewers",
			refuse(fmt.Errorf("%w: camera gate-cam serves at most 2 viewers", live.ErrTooManyViewers).Error())),
		offer("gateway: unknown camera", cam, http.StatusNotFound, "liveerr.no_camera", refuse(fmt.Errorf("%w: gate-cam", live.ErrUnknownCamera).Error())),
		offer("gateway: camera not ready", cam, http.StatusBadRequest, "liveerr.not_ready", refuse(fmt.Errorf("%w: gate-cam", live.ErrCameraNotReady).Error())),
		offer("gateway: codec", cam, http.StatusBadRequest, "liveerr.codec", refuse(fmt.Errorf("%w: H.265", live.ErrUnsupportedCodec).Error())),
		offer("gateway: another refusal", cam, http.StatusBadRequest, "liveerr.refused", refuse(live.ErrClosed.Error())),
		offer("account's views full", cam, http.StatusTooManyRequests, "liveerr.user_full", func(f *fixture, _ *fakeLive) {
			for range liveMaxPerUser {
				must(t, f.offer(f.login("tuan"), gwGate, "gate-cam", ""), http.StatusCreated, "fill the account's views")
			}
		}),
		offer("station's views full", cam, http.StatusTooManyRequests, "liveerr.station_full", func(f *fixture, _ *fakeLive) {
			for i := range liveMaxSessions {
				u := fmt.Sprintf("o%d", i/liveMaxPerUser)
				if i%liveMaxPerUser == 0 {
					if err := f.db.Add(u, accounts.Officer, accounts.Limits{}, testPassword); err != nil {
						t.Fatal(err)
					}
				}
				must(t, f.offer(f.login(u), gwGate, "gate-cam", ""), http.StatusCreated, "fill the station's views")
			}
		}),
		{name: "stats of no session", method: "GET", path: cam + "/0123456789abcdef0123456789abcdef", code: http.StatusNotFound, key: "liveerr.session_ended"},
		{name: "renew of no session", method: "POST", path: cam + "/0123456789abcdef0123456789abcdef/renew", code: http.StatusNotFound, key: "liveerr.session_ended"},
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			f, fl := liveFixture(t)
			if p.setup != nil {
				p.setup(f, fl)
			}
			c := f.login("tuan")
			byLang := map[string]liveErrBody{}
			for _, lang := range []string{LangVI, LangEN} {
				r := must(t, liveAsk(f, lang, p.method, p.path, c, p.ct, p.body), p.code, p.name+" in "+lang)
				var b liveErrBody
				if err := json.Unmarshal([]byte(r.body), &b); err != nil || b.Error == "" || b.Message == "" {
					t.Fatalf("%s: %s (%v): want error and message", lang, r.body, err)
				}
				byLang[lang] = b
			}
			vi, en := byLang[LangVI], byLang[LangEN]
			if vi.Error != en.Error {
				t.Errorf("the English error depends on the language: %q, %q", vi.Error, en.Error)
			}
			if key := liveErrKey(en.Error); key != p.key && !(key == "" && p.key == "liveerr.refused" && strings.HasPrefix(en.Error, "the gateway refused: ")) {
				t.Errorf("error %q: key %q, want %q", en.Error, key, p.key)
			}
			m := catalogue[p.key]
			wantVI, wantEN := m.vi, m.en
			if strings.Contains(wantVI, "%s") {
				wantVI, wantEN = strings.SplitN(wantVI, "%s", 2)[0], strings.SplitN(wantEN, "%s", 2)[0]
			}
			if !strings.HasPrefix(vi.Message, wantVI) || !strings.HasPrefix(en.Message, wantEN) || vi.Message == en.Message {
				t.Errorf("messages vi %q, en %q; want the catalogue's %q and %q", vi.Message, en.Message, wantVI, wantEN)
			}
		})
	}

	// A gateway that does not answer, and a console without a broker.
	t.Run("no reply", func(t *testing.T) {
		f := newFixture(t, func(o *Options) { o.Commands = &noReplyLive{} })
		c := f.login("tuan")
		for lang, want := range map[string]string{LangVI: catalogue["liveerr.no_reply"].vi, LangEN: catalogue["liveerr.no_reply"].en} {
			r := must(t, liveAsk(f, lang, "POST", cam, c, "application/sdp", testOffer), http.StatusGatewayTimeout, "no reply")
			if b := decode[liveErrBody](t, r); b.Message != want || b.Error != ErrNoReply.Error() {
				t.Errorf("%s: %+v, want message %q", lang, b, want)
			}
		}
	})
	t.Run("no broker", func(t *testing.T) {
		f := newFixture(t)
		c := f.login("tuan")
		for lang, want := range map[string]string{LangVI: catalogue["liveerr.no_broker"].vi, LangEN: catalogue["liveerr.no_broker"].en} {
			r := must(t, liveAsk(f, lang, "POST", cam, c, "application/sdp", testOffer), http.StatusServiceUnavailable, "no broker")
			if b := decode[liveErrBody](t, r); b.Message != want {
				t.Errorf("%s: %+v, want message %q", lang, b, want)
			}
		}
	})
	// Trickle on a session: the wrong type, a bad fragment.
	t.Run("trickle", func(t *testing.T) {
		f, _ := liveFixture(t)
		c := f.login("tuan")
		loc := must(t, f.offer(c, gwGate, "gate-cam", ""), http.StatusCreated, "open").header.Get("Location")
		for _, p := range []struct{ ct, body string }{{"text/plain", "a=end-of-candidates\r\n"}, {"application/trickle-ice-sdpfrag", "a=candidate:x\r\n"}} {
			for lang, want := range map[string]string{LangVI: catalogue["liveerr.bad_candidate"].vi, LangEN: catalogue["liveerr.bad_candidate"].en} {
				r := liveAsk(f, lang, "PATCH", loc, c, p.ct, p.body)
				if b := decode[liveErrBody](t, r); r.code/100 != 4 || b.Message != want {
					t.Errorf("PATCH %s in %s: %d %+v, want message %q", p.ct, lang, r.code, b, want)
				}
			}
		}
	})
}

// An error the catalogue does not list is put in a sentence of the
// language, the gateway's refusal in its own; a listed one is the
// catalogue's text alone.
func TestLiveErrorMessageFallback(t *testing.T) {
	for _, c := range []struct{ msg, vi, en string }{
		{"the gateway refused: live view stopped", "Thiết bị từ chối mở xem trực tiếp (chi tiết: live view stopped).", "The gateway refused the live view (live view stopped)."},
		{"the gateway's reply: session \"x\", 0 bytes of answer", "Không mở được xem trực tiếp (chi tiết: the gateway's reply: session \"x\", 0 bytes of answer).",
			"The live view could not be opened (the gateway's reply: session \"x\", 0 bytes of answer)."},
		{"no such gateway", catalogue["liveerr.no_gateway"].vi, catalogue["liveerr.no_gateway"].en},
	} {
		if vi, en := liveErrMessage(LangVI, c.msg), liveErrMessage(LangEN, c.msg); vi != c.vi || en != c.en {
			t.Errorf("%q: vi %q, en %q", c.msg, vi, en)
		}
	}
}
