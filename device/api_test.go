package device_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device"
	"github.com/antt-gateway/antt/device/config"
	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/outbox"
	"github.com/antt-gateway/antt/uplink/wire"
)

// openGateway opens (not runs) a gateway whose broker is unreachable: its
// events stay in the outbox, where the tests read them.
func openGateway(t testing.TB) (*device.Gateway, string) {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	gw := openConfig(t, fmt.Sprintf(`gateway: {id: cong-khu-3, data_dir: %s}
uplink: {broker: "mqtt://127.0.0.1:1"}
sensors:
  - {name: gate-pir, kind: motion, driver: sim, every: 1h}
  - {name: cua-cong, kind: contact, driver: sim, every: 1h}
`, data))
	return gw, filepath.Join(data, device.OutboxFile)
}

// openConfig opens (not runs) the gateway a YAML configuration describes,
// its local API on a free loopback port.
func openConfig(t testing.TB, yaml string) *device.Gateway {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gw, err := device.Open(cfg, device.Options{Listener: ln, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return gw
}

// runGateway runs gw until the test ends and returns its API base URL.
func runGateway(t testing.TB, gw *device.Gateway) string {
	t.Helper()
	t.Cleanup(startRun(t, gw))
	return "http://" + gw.APIAddr()
}

// startRun runs gw and returns what stops it and checks Run's result;
// calling that more than once is harmless.
func startRun(t testing.TB, gw *device.Gateway) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("gateway run: %v", err)
			}
		})
	}
}

func post(t testing.TB, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func TestWalkTestDurableAndMarked(t *testing.T) {
	gw, _ := openGateway(t)
	base := runGateway(t, gw)
	code, body := post(t, base+"/api/walktest", `{"sensor":"cua-cong"}`)
	if code != http.StatusCreated {
		t.Fatalf("walktest: %d %s", code, body)
	}
	var r device.WalkTestReply
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Seq == 0 || r.ID != wire.EventID("cong-khu-3", r.Seq) {
		t.Fatalf("walktest reply %q: %+v %v", body, r, err)
	}
	// The reply came after the commit: the event is in the outbox now.
	found := outboxEvent(t, base, r.Seq)
	if !found.Test || found.Kind != wire.KindContact || found.Source != "cua-cong" || found.State != wire.StateActive || found.Boot != gw.Boot() {
		t.Errorf("walk test event: %+v", *found)
	}
}

// outboxEvent is the event seq from the gateway's outbox dump.
func outboxEvent(t *testing.T, base string, seq uint64) *wire.Event {
	t.Helper()
	resp, err := http.Get(base + "/api/outbox")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var e wire.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("dump line %q: %v", sc.Text(), err)
		}
		if e.Seq == seq {
			return &e
		}
	}
	t.Fatalf("seq %d not in the outbox dump", seq)
	return nil
}

// TestWalkTestTakesSnapshot: the installer walking past a sensor in a
// camera's snapshot_on checks the camera too; the test event carries the
// JPEG as a real edge's does.
func TestWalkTestTakesSnapshot(t *testing.T) {
	jpeg := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte{7}, 5000)...)
	cam := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write(jpeg)
	}))
	defer cam.Close()
	gw := openConfig(t, fmt.Sprintf(`gateway: {id: cong-khu-3, data_dir: %s}
uplink: {broker: "mqtt://127.0.0.1:1"}
sensors:
  - {name: gate-pir, kind: motion, driver: sim, every: 1h}
cameras:
  - {name: cam-cong, url: "rtsp://127.0.0.1:1/never", snapshot_url: %q, snapshot_on: [gate-pir]}
`, filepath.Join(t.TempDir(), "data"), cam.URL+"/snap.jpg"))
	base := runGateway(t, gw)
	code, body := post(t, base+"/api/walktest", `{"sensor":"gate-pir"}`)
	if code != http.StatusCreated {
		t.Fatalf("walktest: %d %s", code, body)
	}
	var r device.WalkTestReply
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	e := outboxEvent(t, base, r.Seq)
	if !e.Test || e.Attrs["snapshot"] != true || e.Attrs["camera"] != "cam-cong" {
		t.Fatalf("walk test event %+v: want test with a snapshot of cam-cong", *e)
	}
}

func TestAPIBadRequests(t *testing.T) {
	gw, _ := openGateway(t)
	base := runGateway(t, gw)
	for _, tc := range []struct {
		body string
		code int
		want string
	}{
		{``, 400, "empty body"},
		{`{`, 400, "bad JSON"},
		{`[]`, 400, "bad JSON"},
		{`{"sensor":1}`, 400, "sensor"},
		{`{"sensor":"gate-pir","extra":true}`, 400, "unknown field"},
		{`{"sensor":"gate-pir"} {}`, 400, "more than one value"},
		{`{"sensor":"nope"}`, 404, `no sensor named \"nope\" (configured: gate-pir, cua-cong)`},
		{`{"sensor":"` + strings.Repeat("x", 70000) + `"}`, 400, "too large"},
	} {
		code, body := post(t, base+"/api/walktest", tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("walktest %.40q: %d %s, want %d containing %q", tc.body, code, body, tc.code, tc.want)
		}
	}
	for _, q := range []string{"after=x", "limit=-1", "limit=abc"} {
		resp, err := http.Get(base + "/api/outbox?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("/api/outbox?%s: %d, want 400", q, resp.StatusCode)
		}
	}
	resp, err := http.Get(base + "/api/walktest")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/walktest: %d", resp.StatusCode)
	}
}

func TestStatusAndHealth(t *testing.T) {
	gw, _ := openGateway(t)
	base := runGateway(t, gw)
	if code, _ := post(t, base+"/api/walktest", `{"sensor":"gate-pir"}`); code != 201 {
		t.Fatal(code)
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get(base + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st device.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.Gateway != "cong-khu-3" || st.Boot != gw.Boot() || len(st.Sensors) != 2 || st.Uplink.Connected {
		t.Errorf("status: %+v", st)
	}
	// The boot event and the walk test wait in the outbox: the broker is down.
	if st.Outbox.Depth < 2 || st.Outbox.Bytes == 0 {
		t.Errorf("outbox stats: %+v", st.Outbox)
	}
}

// A stopped gateway's outbox holds what it captured, readable read-only.
func TestOutboxSurvivesStop(t *testing.T) {
	gw, path := openGateway(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	var seqs []uint64
	for range 5 {
		code, body := post(t, "http://"+gw.APIAddr()+"/api/walktest", `{"sensor":"gate-pir"}`)
		if code != 201 {
			t.Fatalf("%d %s", code, body)
		}
		var r device.WalkTestReply
		json.Unmarshal([]byte(body), &r)
		seqs = append(seqs, r.Seq)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("gateway did not stop")
	}
	r, err := outbox.ReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	have := map[uint64]bool{}
	r.Records(0, func(rec outbox.Record) error { have[rec.Seq] = true; return nil })
	for _, s := range seqs {
		if !have[s] {
			t.Errorf("seq %d lost at stop", s)
		}
	}
}

// FuzzWalkTest feeds the local API arbitrary bodies and queries: it answers
// every one with a status and never stops serving.
func FuzzWalkTest(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"sensor":"gate-pir"}`, `{"sensor":"x"}`, `{"sensor":null}`, "\x00", `{"sensor":"gate-pir","a":1}`} {
		f.Add(s, "after=1&limit=2")
	}
	gw, _ := openGateway(f)
	h := gw.Handler()
	f.Fuzz(func(t *testing.T, body, query string) {
		for _, req := range []*http.Request{
			httptest.NewRequest("POST", "/api/walktest", strings.NewReader(body)),
			httptest.NewRequest("GET", "/api/outbox?"+url(query), nil),
		} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code == 0 || w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
				t.Fatalf("%s %s: status %d", req.Method, req.URL, w.Code)
			}
		}
	})
}

// url keeps a fuzzed query parseable as a request target.
func url(q string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == '#' || r == 0x7f {
			return -1
		}
		return r
	}, q)
}

// The config's default window is the session's: the config package does
// not import uplink, so the two constants are kept equal here.
func TestDefaultWindowsAgree(t *testing.T) {
	if config.DefaultWindow != uplink.DefaultWindow {
		t.Fatalf("config.DefaultWindow %d != uplink.DefaultWindow %d", config.DefaultWindow, uplink.DefaultWindow)
	}
}
