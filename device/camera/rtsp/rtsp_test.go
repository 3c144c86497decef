package rtsp

import (
	"github.com/antt-gateway/antt/device/camera/httpauth"
	"github.com/antt-gateway/antt/device/camera/rtsp/rtsptest"

	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeConn is the server side of one test connection.
type fakeConn struct {
	t  *testing.T
	c  net.Conn
	tp *textproto.Reader
	mu sync.Mutex
}

type fakeReq struct {
	method, url string
	h           textproto.MIMEHeader
}

func (f *fakeConn) read() (fakeReq, error) {
	_ = f.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := f.tp.ReadLine()
	if err != nil {
		return fakeReq{}, err
	}
	p := strings.Fields(line)
	if len(p) != 3 {
		return fakeReq{}, fmt.Errorf("bad request line %q", line)
	}
	h, err := f.tp.ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return fakeReq{}, err
	}
	return fakeReq{p[0], p[1], h}, nil
}

func (f *fakeConn) write(s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, err := f.c.Write([]byte(s))
	return err
}

func (f *fakeConn) reply(r fakeReq, status string, headers ...string) {
	f.replyBody(r, status, "", headers...)
}

func (f *fakeConn) replyBody(r fakeReq, status, body string, headers ...string) {
	var b strings.Builder
	fmt.Fprintf(&b, "RTSP/1.0 %s\r\nCSeq: %s\r\n", status, r.h.Get("CSeq"))
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n" + body)
	_ = f.write(b.String())
}

func (f *fakeConn) frame(ch byte, data []byte) error {
	return f.write(string(append([]byte{'$', ch, byte(len(data) >> 8), byte(len(data))}, data...)))
}

// serve runs handle for each connection on a loopback listener and returns
// the listener's rtsp:// URL.
func serve(t *testing.T, handle func(f *fakeConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return "rtsp://" + serveOn(t, ln, handle)
}

// serveOn is serve on a given listener (a TLS one for rtsps); it returns
// the listener's address.
func serveOn(t *testing.T, ln net.Listener, handle func(f *fakeConn)) string {
	t.Helper()
	rtsptest.Serve(t, ln, func(c net.Conn) {
		handle(&fakeConn{t: t, c: c, tp: textproto.NewReader(bufio.NewReader(c))})
	})
	return ln.Addr().String()
}

const testSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\na=control:*\r\n" +
	"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0IAH5WoFAFuQA==,aM48gA==\r\na=control:stream=0\r\n" +
	"m=audio 0 RTP/AVP 8\r\na=control:stream=1\r\n"

// camera plays a well-behaved camera; keep-alives (with their Session
// header) are reported on keepAlives when it is not nil.
func camera(f *fakeConn, timeout int, onPlay func(f *fakeConn), keepAlives ...chan<- string) {
	for {
		r, err := f.read()
		if err != nil {
			return
		}
		switch r.method {
		case "OPTIONS":
			f.reply(r, "200 OK", "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER")
		case "DESCRIBE":
			f.replyBody(r, "200 OK", testSDP, "Content-Type: application/sdp", "Content-Base: "+r.url+"/")
		case "SETUP":
			tr := r.h.Get("Transport")
			_ = f.frame(0, []byte("stray frame before the answer"))
			f.reply(r, "200 OK", fmt.Sprintf("Session: 12345678;timeout=%d", timeout), "Transport: "+tr+";ssrc=1234")
		case "PLAY":
			f.reply(r, "200 OK", "Session: 12345678")
			if onPlay != nil {
				go onPlay(f)
			}
		case "GET_PARAMETER":
			f.reply(r, "200 OK", "Session: 12345678")
			for _, ch := range keepAlives {
				ch <- r.method + " " + r.h.Get("Session")
			}
		case "TEARDOWN":
			f.reply(r, "200 OK")
			return
		}
	}
}

func start(t *testing.T, ctx context.Context, u string, cfg Config) (*Client, *Description) {
	t.Helper()
	c, err := Dial(ctx, u, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Options(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := c.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range d.Medias {
		if _, err := c.Setup(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Play(ctx); err != nil {
		t.Fatal(err)
	}
	return c, d
}

func TestSessionKeepAliveAndInterleaved(t *testing.T) {
	keepAlives := make(chan string, 16)
	u := serve(t, func(f *fakeConn) {
		stop := make(chan struct{})
		defer close(stop)
		camera(f, 1, func(f *fakeConn) {
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if f.frame(0, []byte{0x80, 96, byte(seq >> 8), byte(seq), 0, 0, 0, 0, 0, 0, 0, 1, 0x41, 0x9a}) != nil ||
					f.frame(1, []byte{0x81, 200, 0, 6}) != nil {
					return
				}
			}
		}, keepAlives)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, d := start(t, ctx, u+"/cam", Config{})
	if got := d.Medias[0].Control.String(); got != u+"/cam/stream=0" {
		t.Errorf("video control = %s", got)
	}
	if c.SessionTimeout() != time.Second {
		t.Errorf("session timeout = %v, want 1s", c.SessionTimeout())
	}
	rctx, stop := context.WithCancel(ctx)
	var rtpN, rtcpN int
	var kas []string
	go func() {
		// Two keep-alives seen by the server (one per half session timeout)
		// prove the timer runs while media flows.
		for len(kas) < 2 {
			kas = append(kas, <-keepAlives)
		}
		stop()
	}()
	start := time.Now()
	err := c.Run(rctx, func(p Packet) {
		if p.RTCP {
			rtcpN++
		} else {
			rtpN++
		}
	})
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("two keep-alives took %v at a 1 s session timeout", el)
	}
	for _, k := range kas {
		if k != "GET_PARAMETER 12345678" {
			t.Errorf("keep-alive %q, want GET_PARAMETER with the session", k)
		}
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	if rtpN == 0 || rtcpN == 0 {
		t.Fatalf("rtp=%d rtcp=%d, want both", rtpN, rtcpN)
	}
}

func TestStall(t *testing.T) {
	u := serve(t, func(f *fakeConn) { camera(f, 60, nil) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _ := start(t, ctx, u+"/cam", Config{StallTimeout: 300 * time.Millisecond})
	if err := c.Run(ctx, func(Packet) {}); !errors.Is(err, ErrStalled) {
		t.Fatalf("Run = %v, want ErrStalled", err)
	}
}

func digestServer(t *testing.T, user, pass string, qop bool, staleOnce bool) string {
	nonce := 0
	var mu sync.Mutex
	return serve(t, func(f *fakeConn) {
		stale := staleOnce
		for {
			r, err := f.read()
			if err != nil {
				return
			}
			mu.Lock()
			cur := fmt.Sprintf("n%d", nonce)
			mu.Unlock()
			chal := fmt.Sprintf(`WWW-Authenticate: Digest realm="cam, \"1\"", nonce="%s"`, cur)
			if qop {
				chal += `, qop="auth,auth-int", opaque="xyz"`
			}
			a := r.h.Get("Authorization")
			if a == "" {
				f.reply(r, "401 Unauthorized", `WWW-Authenticate: Basic realm="cam"`, chal)
				continue
			}
			p := httpauth.ParseParams(strings.TrimPrefix(a, "Digest "))
			ha1 := httpauth.MD5Hex(user + `:cam, "1":` + pass)
			ha2 := httpauth.MD5Hex(r.method + ":" + p["uri"])
			want := httpauth.MD5Hex(ha1 + ":" + p["nonce"] + ":" + ha2)
			if qop {
				want = httpauth.MD5Hex(ha1 + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + ha2)
				if p["opaque"] != "xyz" || p["qop"] != "auth" {
					t.Errorf("opaque/qop not echoed: %q", a)
				}
			}
			if p["uri"] != r.url || strings.Contains(a, pass) {
				t.Errorf("bad authorization %q for %s", a, r.url)
			}
			if p["response"] != want || p["nonce"] != cur {
				f.reply(r, "401 Unauthorized", chal)
				continue
			}
			if r.method == "DESCRIBE" && stale {
				stale = false
				mu.Lock()
				nonce++
				mu.Unlock()
				f.reply(r, "401 Unauthorized", fmt.Sprintf(`WWW-Authenticate: Digest realm="cam, \"1\"", nonce="n%d", stale=TRUE, qop="auth", opaque="xyz"`, nonce))
				continue
			}
			switch r.method {
			case "OPTIONS":
				f.reply(r, "200 OK", "Public: DESCRIBE")
			case "DESCRIBE":
				f.replyBody(r, "200 OK", testSDP, "Content-Type: application/sdp")
			default:
				f.reply(r, "200 OK")
			}
		}
	})
}

func TestDigest(t *testing.T) {
	for _, qop := range []bool{false, true} {
		t.Run(fmt.Sprint("qop=", qop), func(t *testing.T) {
			u := digestServer(t, "admin", "pa:ss@w", qop, qop)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := Dial(ctx, strings.Replace(u, "://", "://admin:pa%3Ass%40w@", 1)+"/cam", Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Options(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Describe(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.Options(ctx); err != nil {
				t.Fatal(err)
			}
			if qop && c.auth.Count() < 2 {
				t.Errorf("nc = %d, want it counting", c.auth.Count())
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		u := digestServer(t, "admin", "right", true, false)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := Dial(ctx, strings.Replace(u, "://", "://admin:wrong@", 1)+"/cam", Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		err = c.Options(ctx)
		if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong@") {
			t.Fatalf("err = %v, want a 401 ErrUnauthorized without the password", err)
		}
	})
}

func TestRedirect(t *testing.T) {
	target := serve(t, func(f *fakeConn) { camera(f, 60, nil) })
	hop := serve(t, func(f *fakeConn) {
		for {
			r, err := f.read()
			if err != nil {
				return
			}
			f.reply(r, "302 Moved", "Location: "+target+"/real")
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, d := start(t, ctx, hop+"/cam", Config{})
	if got := d.Control.String(); got != target+"/real/" {
		t.Fatalf("aggregate control after redirect = %s", got)
	}

	var loop string
	loop = serve(t, func(f *fakeConn) {
		r, err := f.read()
		if err == nil {
			f.reply(r, "301 Moved", "Location: "+loop+"/again")
		}
	})
	c, err := Dial(ctx, loop+"/cam", Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Options(ctx); err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Fatalf("redirect loop: err = %v", err)
	}
}

func TestMalformedResponses(t *testing.T) {
	for _, tc := range []struct{ name, resp string }{
		{"garbage", "HELLO\r\n\r\n"},
		{"bad status", "RTSP/1.0 abc OK\r\nCSeq: 1\r\n\r\n"},
		{"http", "HTTP/1.1 200 OK\r\nCSeq: 1\r\n\r\n"},
		{"header without colon", "RTSP/1.0 200 OK\r\nCSeq 1\r\n\r\n"},
		{"negative length", "RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: -4\r\n\r\n"},
		{"huge body", "RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 99999999\r\n\r\n"},
		{"long line", "RTSP/1.0 200 OK\r\nX: " + strings.Repeat("a", 9000) + "\r\n\r\n"},
		{"many headers", "RTSP/1.0 200 OK\r\n" + strings.Repeat("X: a\r\n", 200) + "\r\n"},
		{"huge header", "RTSP/1.0 200 OK\r\n" + strings.Repeat("X: "+strings.Repeat("b", 4000)+"\r\n", 5) + "\r\n"},
		{"truncated frame", "$\x00\x10\x00abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := serve(t, func(f *fakeConn) {
				if _, err := f.read(); err == nil {
					_ = f.write(tc.resp)
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := Dial(ctx, u+"/cam", Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.Options(ctx)
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
		})
	}
}

func TestTimeout(t *testing.T) {
	u := serve(t, func(f *fakeConn) { _, _ = f.read(); _, _ = f.read() }) // never answers
	ctx := context.Background()
	c, err := Dial(ctx, u+"/cam", Config{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	var ne net.Error
	if err := c.Options(ctx); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("step timeout not applied")
	}
	// A cancelled context ends a step at once, with the context's error.
	cctx, cancel := context.WithCancel(ctx)
	c2, err := Dial(ctx, u+"/cam", Config{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	time.AfterFunc(50*time.Millisecond, cancel)
	if err := c2.Options(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestResolveControl(t *testing.T) {
	base, _ := url.Parse("rtsp://10.0.0.5:554/cam/realmonitor?channel=1&subtype=0/")
	plain, _ := url.Parse("rtsp://cam/live")
	for _, tc := range []struct {
		base *url.URL
		ctl  string
		want string
	}{
		{base, "trackID=0", "rtsp://10.0.0.5:554/cam/realmonitor?channel=1&subtype=0/trackID=0"},
		{plain, "trackID=1", "rtsp://cam/live/trackID=1"},
		{plain, "*", "rtsp://cam/live"},
		{plain, "", "rtsp://cam/live"},
		{plain, "rtsp://other:8554/x/track1", "rtsp://other:8554/x/track1"},
		{plain, "RTSP://other/y", "rtsp://other/y"},
		{plain, "/abs/track2", "rtsp://cam/abs/track2"},
	} {
		got, err := resolveControl(tc.base, tc.ctl)
		if err != nil || got.String() != tc.want {
			t.Errorf("resolve(%s, %q) = %v, %v; want %s", tc.base, tc.ctl, got, err, tc.want)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"rtsp://admin:s3cret@10.0.0.5/x": "rtsp://***@10.0.0.5/x",
		"rtsp://10.0.0.5/x":              "rtsp://10.0.0.5/x",
		"rtsp://a:b@[::1:bad/x":          "rtsp://(unparsable)",
		// Credentials in the query or, for XMEye DVRs, the path.
		"rtsp://10.0.0.5/live?user=admin&password=s3cret&channel=1":                         "rtsp://10.0.0.5/live?user=admin&password=xxxxx&channel=1",
		"rtsp://10.0.0.5:554/user=admin&password=s3cret&channel=1&stream=0.sdp?real_stream": "rtsp://10.0.0.5:554/user=admin&password=xxxxx&channel=1&stream=0.sdp?real_stream",
		"rtsp://admin:s3cret@10.0.0.5/x?token=s3cret":                                       "rtsp://***@10.0.0.5/x?token=xxxxx",
	} {
		if got := Redact(in); got != want || strings.Contains(got, "s3cret") {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestChallengeParsing(t *testing.T) {
	cs := httpauth.ParseChallenges([]string{`Basic realm="x"`, `Digest realm="a, b", nonce=abc, qop="auth", stale=true`, `Bearer x`})
	ch := httpauth.Pick(cs)
	if ch == nil || ch.Scheme != "digest" || ch.Params["realm"] != "a, b" || ch.Params["nonce"] != "abc" || ch.Params["stale"] != "true" {
		t.Fatalf("picked %+v", ch)
	}
}

// loopReader replays one byte slice forever.
type loopReader struct {
	b   []byte
	off int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.b[l.off:])
	l.off = (l.off + n) % len(l.b)
	return n, nil
}

// BenchmarkInterleavedRead measures reading $-framed RTP from the RTSP
// connection: 0 allocations per packet is the target.
func BenchmarkInterleavedRead(b *testing.B) {
	var stream []byte
	pkt := make([]byte, 1200)
	for i := range 100 {
		stream = append(stream, '$', byte(i%2), byte(len(pkt)>>8), byte(len(pkt)))
		stream = append(stream, pkt...)
	}
	r := newReader(&loopReader{b: stream}, 0, 0)
	n := 0
	onFrame := func(ch byte, p []byte) { n++ }
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt) + 4))
	for b.Loop() {
		if _, ok, err := r.step(onFrame); err != nil || ok {
			b.Fatalf("step: ok=%v err=%v", ok, err)
		}
	}
	if n == 0 {
		b.Fatal("no frames")
	}
}

// A camera that does not list GET_PARAMETER gets OPTIONS as keep-alive; a
// relative Content-Base resolves against the request URL; Close during Run
// ends Run at once.
func TestOptionsKeepAliveRelativeBaseAndClose(t *testing.T) {
	got := make(chan string, 16)
	u := serve(t, func(f *fakeConn) {
		for {
			r, err := f.read()
			if err != nil {
				return
			}
			switch r.method {
			case "OPTIONS":
				if r.h.Get("Session") != "" {
					got <- "OPTIONS " + r.url
				}
				f.reply(r, "200 OK", "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN")
			case "DESCRIBE":
				f.replyBody(r, "200 OK", strings.Replace(testSDP, "a=control:*", "a=control:agg", 1),
					"Content-Type: application/sdp", "Content-Base: /base/dir/")
			case "SETUP":
				got <- "SETUP " + r.url
				f.reply(r, "200 OK", "Session: s1;timeout=1", "Transport: "+r.h.Get("Transport"))
			case "PLAY":
				got <- "PLAY " + r.url
				f.reply(r, "200 OK")
				go func() {
					for i := 0; i < 200; i++ {
						if f.frame(0, []byte{0x80, 96, 0, byte(i), 0, 0, 0, 0, 0, 0, 0, 1}) != nil {
							return
						}
						time.Sleep(10 * time.Millisecond) // pacing like a camera, not synchronisation
					}
				}()
			case "TEARDOWN":
				got <- "TEARDOWN " + r.url
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _ := start(t, ctx, u+"/cam?x=1", Config{})
	want := []string{
		"SETUP " + u + "/base/dir/agg/stream=0",
		"SETUP " + u + "/base/dir/agg/stream=1",
		"PLAY " + u + "/base/dir/agg",
		"OPTIONS " + u + "/base/dir/agg",
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, func(Packet) {}) }()
	for _, w := range want {
		select {
		case g := <-got:
			if g != w {
				t.Fatalf("server saw %q, want %q", g, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("server never saw %q", w)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Run returned nil after Close")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not end after Close")
	}
	if g := <-got; g != "TEARDOWN "+u+"/base/dir/agg" {
		t.Fatalf("server saw %q, want the TEARDOWN", g)
	}
}
