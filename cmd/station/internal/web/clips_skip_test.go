package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/antt-gateway/antt/cmd/station/internal/accounts"
	"github.com/antt-gateway/antt/cmd/station/internal/clips"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// segments announces n one-minute segments of gw's camera from t0, the
// first complete ones held whole.
func segments(t *testing.T, cs *clips.Store, gw, cam string, t0 time.Time, n, complete int) {
	t.Helper()
	for i := range n {
		id := fmt.Sprintf("%s-seg-%d", cam, i)
		data := []byte("segment " + id)
		sum := sha256.Sum256(data)
		if err := cs.Announce(clips.Info{Gateway: gw, ID: id, Camera: cam, Start: t0.Add(time.Duration(i) * time.Minute).Format(time.RFC3339Nano),
			Duration: 59960, Bytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}); err != nil {
			t.Fatal(err)
		}
		if i < complete {
			if _, err := cs.Put(gw, id, 0, data); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A range fetch names in skip the clips of the range the station holds
// complete, and says how many the gateway left out; a range the station
// holds whole is answered without asking the gateway, and audited.
func TestRangeFetchSkipsHeld(t *testing.T) {
	f, cmd, _ := clipFixture(t)
	cs := f.s.o.Clips.Store
	t0 := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
	segments(t, cs, gwGate, "yard-cam", t0, 4, 2)
	officer := f.login("tuan")
	ask := func(from, to time.Time, lang string) resp {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"camera": "yard-cam", "from": from, "to": to})
		return f.do(req{method: "POST", path: "/api/clips/" + gwGate + "/fetch", json: string(body), cookie: officer, header: map[string]string{"Accept-Language": lang}})
	}

	cmd.reply = `{"id":"x","ok":true,"clips":[{"clip":"yard-cam-seg-2"},{"clip":"yard-cam-seg-3"}],"skipped":2}`
	r := must(t, ask(t0, t0.Add(4*time.Minute-time.Second), "vi"), 200, "a range half held")
	want := gwGate + ` clip.get {"camera":"yard-cam","from":"2026-12-01T01:00:00Z","skip":["yard-cam-seg-0","yard-cam-seg-1"],"to":"2026-12-01T01:03:59Z"}`
	if len(cmd.got) != 1 || cmd.got[0] != want {
		t.Fatalf("the gateway was asked %q, want %q", cmd.got, want)
	}
	var out struct {
		Result CommandResult `json:"result"`
		Sent   bool          `json:"sent"`
		Held   int           `json:"held"`
		Note   string        `json:"note"`
	}
	if err := json.Unmarshal([]byte(r.body), &out); err != nil || !out.Sent || out.Note != "2 đoạn video trạm đã có sẽ không được gửi lại." {
		t.Fatalf("answer %s (%v)", r.body, err)
	}
	if es := f.entries("clip.fetch"); len(es) != 1 || es[0].Detail["skip"] != "2" {
		t.Fatalf("audit %+v, want skip counted", es)
	}

	// The first two minutes are held whole: the gateway is not asked.
	cmd.got = nil
	r = must(t, ask(t0, t0.Add(2*time.Minute-time.Second), "en"), 200, "a range held")
	if len(cmd.got) != 0 {
		t.Fatalf("the gateway was asked %q for a range the station holds", cmd.got)
	}
	out.Sent = true
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		t.Fatal(err)
	}
	var reply bytes.Buffer
	_ = json.Compact(&reply, out.Result.Reply)
	if !out.Result.OK || out.Sent || out.Held != 2 || reply.String() != `{"clips":[],"ok":true,"skipped":2}` ||
		out.Note != "The station already holds all 2 clips of this range: nothing is fetched from the gateway again, no 4G data used." {
		t.Fatalf("answer %s", r.body)
	}
	if es := f.entries("clip.fetch"); len(es) != 2 || es[0].Detail["sent"] != "no" || es[0].Detail["held"] != "2" || es[0].Actor != "tuan" { // newest first
		t.Fatalf("audit %+v", es)
	}

	// Held up to its end but announcements stop before the range does
	// (a segment whose event has not arrived): the gateway is asked.
	must(t, ask(t0, t0.Add(5*time.Minute), "vi"), 200, "a range past the announcements")
	if len(cmd.got) != 1 || !strings.Contains(cmd.got[0], `"skip":["yard-cam-seg-0","yard-cam-seg-1"]`) {
		t.Fatalf("the gateway was asked %q", cmd.got)
	}
}

// Past FetchBurst clip.get commands an account is refused with 429, in
// its language, until the bucket refills; another account is not; the
// station's own answers take no token.
func TestFetchLimit(t *testing.T) {
	f, cmd, _ := clipFixture(t)
	if err := f.db.Add("lan", accounts.Officer, accounts.Limits{Sites: []string{"khu-3"}}, testPassword); err != nil {
		t.Fatal(err)
	}
	segments(t, f.s.o.Clips.Store, gwGate, "gate-cam", time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC), 1, 0)
	tuan, lan := f.login("tuan"), f.login("lan")
	body := `{"camera":"yard-cam","from":"2026-12-01T01:00:00Z","to":"2026-12-01T01:10:00Z"}`
	fetch := func(cookie, lang string) resp {
		return f.do(req{method: "POST", path: "/api/clips/" + gwGate + "/fetch", json: body, cookie: cookie, header: map[string]string{"Accept-Language": lang}})
	}
	for i := range FetchBurst {
		must(t, fetch(tuan, "vi"), 200, fmt.Sprintf("fetch %d", i+1))
	}
	// A clip the station holds complete is answered without a token.
	must(t, f.do(req{method: "POST", path: "/api/clips/" + gwGate + "/c1/fetch", cookie: tuan}), 200, "a complete clip")
	r := must(t, fetch(tuan, "vi"), 429, "one too many")
	if !strings.Contains(r.body, "Đã quá giới hạn số lần lấy đoạn video (30 lần mỗi giờ cho mỗi tài khoản): hãy thử lại sau 2 phút.") || r.header.Get("Retry-After") != "120" {
		t.Fatalf("429: %s (Retry-After %q)", r.body, r.header.Get("Retry-After"))
	}
	if r := must(t, f.do(req{method: "POST", path: "/api/clips/" + gwGate + "/gate-cam-seg-0/fetch", cookie: tuan, header: map[string]string{"Accept-Language": "en"}}), 429, "one clip, too many"); !strings.Contains(r.body, "Past the fetch limit (30 requests an hour per account): try again in 2 minutes.") {
		t.Fatalf("429 in English: %s", r.body)
	}
	if len(cmd.got) != FetchBurst {
		t.Fatalf("%d commands sent, want %d", len(cmd.got), FetchBurst)
	}
	must(t, fetch(lan, "vi"), 200, "another account")
	f.advance(FetchEvery - time.Second)
	must(t, fetch(tuan, "vi"), 429, "not yet refilled")
	f.advance(time.Second)
	must(t, fetch(tuan, "vi"), 200, "one token back")
	must(t, fetch(tuan, "vi"), 429, "only one")
}

// Real headless Chromium: an officer fetches a range the station holds
// whole; the page says so (the station's note) and the gateway is not
// asked.
func TestChromiumRangeHeld(t *testing.T) {
	f, cmd, _ := clipFixture(t)
	f.st.SetTelemetry(gwGate, wire.Telemetry{Cameras: map[string]string{"yard-cam": "online"}}, time.Now())
	segments(t, f.s.o.Clips.Store, gwGate, "yard-cam", time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC), 2, 2)
	base := serveFixture(t, f)
	ctx := newBrowser(t, 60*time.Second)
	form := "#range-" + gwGate
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 800), chromedp.Navigate(base+"/login"), chromedp.WaitVisible("#user"),
		chromedp.SendKeys("#user", "tuan"), chromedp.SendKeys("#password", testPassword),
		chromedp.Click(`button.primary`), chromedp.WaitVisible(".cards"),
		chromedp.Navigate(base+"/events"), chromedp.WaitVisible("#clip-range summary"),
		chromedp.Click("#clip-range summary"), chromedp.WaitVisible(form+" #rf-"+gwGate),
		chromedp.SetValue(form+" select", "yard-cam"),
		chromedp.SendKeys("#rf-"+gwGate, "01/12/2026 08:00"), chromedp.SendKeys("#rt-"+gwGate, "01/12/2026 08:01"),
		chromedp.Click(form+" button")); err != nil {
		t.Fatal(err)
	}
	want := "Trạm đã có đủ cả 2 đoạn video của khoảng thời gian này"
	var got string
	devtest.WaitFor(t, 10*time.Second, "the page says the range is held", func() bool {
		s, err := chromedp.Run(ctx, chromedp.Text(form+" .range-result"))
		if err != nil {
			t.Fatal(err)
		}
		got = s
		return strings.Contains(s, want)
	})
	cmd.mu.Lock()
	defer cmd.mu.Unlock()
	if len(cmd.got) != 0 {
		t.Fatalf("the gateway was asked %q for a range the station holds (the page says %q)", cmd.got, got)
	}
}
