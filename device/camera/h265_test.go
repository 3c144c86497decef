package camera

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

const h265SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\n" +
	"m=video 0 RTP/AVP 98\r\na=rtpmap:98 H265/90000\r\na=control:trackID=1\r\n" +
	"m=audio 0 RTP/AVP 0\r\na=control:trackID=2\r\n"

// h265Camera is a scripted camera sending H.265 and PCMU (static payload
// type 0, no rtpmap), as some Hikvision models do.
func h265Camera(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		tp := textproto.NewReader(bufio.NewReader(c))
		for {
			line, err := tp.ReadLine()
			if err != nil {
				return
			}
			h, _ := tp.ReadMIMEHeader()
			method := strings.Fields(line)[0]
			var extra, body string
			switch method {
			case "OPTIONS":
				extra = "Public: OPTIONS, DESCRIBE, SETUP, PLAY\r\n"
			case "DESCRIBE":
				body = h265SDP
				extra = "Content-Type: application/sdp\r\nContent-Base: rtsp://" + ln.Addr().String() + "/h265/\r\n"
			case "SETUP":
				extra = "Session: abc\r\nTransport: " + h.Get("Transport") + "\r\n"
			case "PLAY":
				extra = "Session: abc\r\n"
			}
			fmt.Fprintf(c, "RTSP/1.0 200 OK\r\nCSeq: %s\r\n%sContent-Length: %d\r\n\r\n%s", h.Get("CSeq"), extra, len(body), body)
			if method == "PLAY" {
				// An H.265 packet with no payload (dropped), an
				// IDR_W_RADL single NAL packet, then a PCMU packet.
				empty := []byte{0x80, 0x62, 0, 1, 0, 0, 0, 9, 0, 0, 0, 1}
				vid := []byte{0x80, 0xe2, 0, 1, 0, 0, 0, 9, 0, 0, 0, 1, 19 << 1, 1, 0xaf, 0x11}
				aud := []byte{0x80, 0x00, 0, 1, 0, 0, 0, 9, 0, 0, 0, 2, 0xff, 0xfe, 0xfd}
				for i := 0; i < 3; i++ {
					for _, p := range [][]byte{empty, vid, aud} {
						ch := 0
						if p[1]&0x7f == 0 {
							ch = 2
						}
						fmt.Fprintf(c, "$%c%c%c%s", byte(ch), byte(len(p)>>8), byte(len(p)), p)
					}
				}
			}
		}
	})
	return "rtsp://" + ln.Addr().String() + "/h265"
}

func TestH265PassThrough(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	src, err := Open(ctx, h265Camera(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tr := src.Tracks()
	if len(tr) != 2 || tr[0].Codec != H265 || tr[0].BrowserPlayable || !strings.Contains(tr[0].Note, "browsers") {
		t.Fatalf("tracks = %+v", tr)
	}
	if tr[1].Codec != PCMU || tr[1].ClockRate != 8000 || !tr[1].BrowserPlayable {
		t.Fatalf("audio track = %+v", tr[1])
	}
	rctx, stop := context.WithCancel(ctx)
	var video, audio int
	err = src.Run(rctx, func(f *Frame) {
		switch f.Codec {
		case H265:
			if !f.Key || !bytes.Equal(f.Payload, []byte{19 << 1, 1, 0xaf, 0x11}) {
				t.Errorf("H.265 frame %+v not passed through", f)
			}
			video++
		case PCMU:
			if !bytes.Equal(f.Payload, []byte{0xff, 0xfe, 0xfd}) || f.Track != 1 {
				t.Errorf("PCMU frame %+v", f)
			}
			audio++
		}
		if video == 3 && audio == 3 {
			stop()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v (video %d, audio %d)", err, video, audio)
	}
	if st := src.Stats(); st.Malformed < 1 || st.Frames != 6 {
		t.Errorf("stats %+v: want the empty H.265 packets counted malformed and only the 6 real frames", st)
	}
}
