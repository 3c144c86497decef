package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/antt-gateway/antt/device/camera/h264"
	"github.com/antt-gateway/antt/device/camera/mp4"
	"github.com/antt-gateway/antt/device/camera/mp4/demux"
	"github.com/antt-gateway/antt/device/camera/record"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// markUUID opens the SEI (user data unregistered) each recorded test
// frame carries with its number, so a viewer tells which frame it got.
const markUUID = "antt-frame-mark!"

// markSEI is an SEI NAL unit numbering a frame: 28 bits, 7 per byte with
// the high bit set (no emulation prevention needed).
func markSEI(n int) []byte {
	b := []byte{h264.NALSEI, 5, 20}
	b = append(b, markUUID...)
	for k := 3; k >= 0; k-- {
		b = append(b, 0x80|byte(n>>(7*k))&0x7f)
	}
	return append(b, 0x80)
}

// frameMark reads the number of markSEI in an access unit (-1: none).
func frameMark(nalus [][]byte) int {
	for _, n := range nalus {
		if len(n) == 24 && n[0]&0x1f == h264.NALSEI && string(n[3:19]) == markUUID {
			v := 0
			for _, c := range n[19:23] {
				v = v<<7 | int(c&0x7f)
			}
			return v
		}
	}
	return -1
}

const frameStep = 40 * time.Millisecond // the test clip's 25 frames/s

// recordSegment writes frames of the test clip (looped, from its first
// key frame) into st as one continuous segment of cam starting at start;
// frame i carries mark base+i. It returns the indices of the key frames.
func recordSegment(t testing.TB, st *record.Store, cam string, start time.Time, frames, base int) []int {
	t.Helper()
	data, err := os.ReadFile(moduleFile(t, "testdata/camera/clip-320x180-25fps.h264"))
	if err != nil {
		t.Fatal(err)
	}
	aus, err := h264.GroupAccessUnits(h264.SplitAnnexB(data))
	if err != nil {
		t.Fatal(err)
	}
	var tr mp4.Track
	for _, au := range aus {
		for _, n := range au.NALUs {
			switch n[0] & 0x1f {
			case h264.NALSPS:
				tr.SPS = n
			case h264.NALPPS:
				tr.PPS = n
			}
		}
	}
	c, err := st.Create(record.CreateOptions{Camera: cam, Start: start, Reason: record.ReasonContinuous, Upload: record.UploadOnRequest})
	if err != nil {
		t.Fatal(err)
	}
	var w *mp4.Writer
	w, err = mp4.NewWriter(c, tr, mp4.WriterOptions{AfterFragment: func() error { return c.Sync(w.Frames(), w.Duration()) }})
	if err != nil {
		t.Fatal(err)
	}
	var keys []int
	for i := range frames {
		au := aus[i%len(aus)]
		if au.Key {
			keys = append(keys, i)
		}
		nalus := append([][]byte{markSEI(base + i)}, au.NALUs...)
		if err := w.WriteFrame(time.Duration(i)*frameStep, au.Key, nalus); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Finish(w.Frames(), w.Duration()); err != nil {
		t.Fatal(err)
	}
	return keys
}

func openRecordStore(t testing.TB) *record.Store {
	t.Helper()
	return openRecordStoreIn(t, t.TempDir())
}

func openRecordStoreIn(t testing.TB, dir string) *record.Store {
	t.Helper()
	st, err := record.OpenStore(record.StoreOptions{Dir: dir, MaxBytes: 1 << 30, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// keyAtOrBefore is the last of keys at or before frame i.
func keyAtOrBefore(keys []int, i int) int {
	k := keys[0]
	for _, v := range keys {
		if v <= i {
			k = v
		}
	}
	return k
}

// got is one access unit a playback viewer received.
type got struct {
	mark int
	key  bool
	rtp  uint32
	at   time.Time
}

// playViewer is a pion viewer that notes each frame's mark.
type playViewer struct {
	pc      *webrtc.PeerConnection
	session string
	mu      sync.Mutex
	aus     []got
	depack  *h264.Depacketizer
	hold    chan struct{} // when set, reading waits until it is closed
}

func (v *playViewer) list() []got {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]got(nil), v.aus...)
}

// newPlayViewer makes a viewer of a playback that reads its video until
// the test ends; it returns the viewer and its complete offer.
func newPlayViewer(t *testing.T) (*playViewer, string) {
	t.Helper()
	v := &playViewer{}
	v.depack = h264.NewDepacketizer(nil, nil, func(au *h264.AccessUnit) {
		v.aus = append(v.aus, got{mark: frameMark(au.NALUs), key: au.Key, rtp: au.RTPTime, at: time.Now()})
	})
	pc, offer := makeOffer(t, viewerAPI(t), webrtc.RTPCodecTypeVideo)
	v.pc = pc
	var wg sync.WaitGroup
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		wg.Go(func() {
			v.mu.Lock()
			hold := v.hold
			v.mu.Unlock()
			if hold != nil {
				<-hold
			}
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				v.push(p)
			}
		})
	})
	t.Cleanup(func() { _ = pc.Close(); wg.Wait() })
	return v, offer
}

// play opens a playback of req (SDP filled in) and reads what comes.
func play(t *testing.T, m *Manager, req OfferRequest) (*playViewer, *Answer) {
	t.Helper()
	v, offer := newPlayViewer(t)
	pc := v.pc
	req.SDP = offer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ans, err := m.Offer(ctx, req)
	if err != nil {
		t.Fatalf("playback offer: %v", err)
	}
	v.session = ans.Session
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP}); err != nil {
		t.Fatal(err)
	}
	return v, ans
}

// waitLast waits until the viewer has received frame mark want (the last
// of the playback), for at most 10 s, and returns what it got. The end notice alone does not
// say the viewer has read the last packets yet: they may still be on
// their way through its socket and SRTP buffers.
func (v *playViewer) waitLast(t *testing.T, want int) []got {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		aus := v.list()
		if len(aus) > 0 && aus[len(aus)-1].mark >= want {
			return aus
		}
		if time.Now().After(deadline) {
			last := -1
			if len(aus) > 0 {
				last = aus[len(aus)-1].mark
			}
			t.Fatalf("the viewer's last frame is %d after waiting 10 s, want %d: the playback's end lost it", last, want)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

func (v *playViewer) push(p *rtp.Packet) {
	v.mu.Lock()
	defer v.mu.Unlock()
	_ = v.depack.Push(&p.Header, p.Payload)
}

// ends collects the end notices a Manager publishes.
type ends struct {
	mu   sync.Mutex
	msgs map[string]wire.LiveEndMsg
}

func (e *ends) publish(_ context.Context, levels string, _ byte, payload []byte) error {
	if !strings.HasSuffix(levels, "/end") {
		return nil
	}
	var msg wire.LiveEndMsg
	if err := json.Unmarshal(payload, &msg); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if levels != wire.LiveEndLevels(msg.Session) {
		return errors.New("end notice on " + levels + " for session " + msg.Session)
	}
	e.msgs[msg.Session] = msg
	return nil
}

func (e *ends) of(session string) (wire.LiveEndMsg, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.msgs[session]
	return m, ok
}

var t0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

// A pion viewer plays a range across two one-minute-style segments (here
// 10 s each): the first frame is the key frame at or before from, frames
// come paced in real time with timestamps to match, the next segment
// follows on, and the end of the range closes the session with its reason.
func TestPlaybackRange(t *testing.T) {
	t.Parallel()
	st := openRecordStore(t)
	keysA := recordSegment(t, st, "gate", t0, 250, 0)
	recordSegment(t, st, "gate", t0.Add(10*time.Second), 250, 1000)
	if len(keysA) < 2 || keysA[0] != 0 {
		t.Fatalf("test clip key frames %v: want several, the first at 0", keysA)
	}
	e := &ends{msgs: map[string]wire.LiveEndMsg{}}
	m := startManager(t, Options{Recordings: st, Publish: e.publish})

	fromIdx := 8500/40 + 3 // 8.62 s: inside a GOP, not on its key frame
	from := t0.Add(time.Duration(fromIdx) * frameStep)
	to := t0.Add(11500 * time.Millisecond)
	wantFirst := keyAtOrBefore(keysA, fromIdx)
	if wantFirst == fromIdx {
		t.Fatalf("from is on a key frame (%d); the test wants one before it", fromIdx)
	}
	v, ans := play(t, m, OfferRequest{Camera: "gate", From: from, To: to})
	if want := t0.Add(time.Duration(wantFirst) * frameStep); !ans.Position.Equal(want) {
		t.Errorf("answer position %v, want the key frame at %v", ans.Position, want)
	}
	devtest.WaitFor(t, 30*time.Second, "the playback to end", func() bool { _, ok := e.of(v.session); return ok })
	end, _ := e.of(v.session)
	if end.Reason != ReasonRangeEnd {
		t.Errorf("end reason %q, want %q", end.Reason, ReasonRangeEnd)
	}
	devtest.WaitFor(t, 10*time.Second, "the session to go", func() bool { return m.Viewers() == 0 })
	aus := v.waitLast(t, 1000+int(1500*time.Millisecond/frameStep)) // the last frame at or before to
	if len(aus) < 10 {
		t.Fatalf("%d frames arrived", len(aus))
	}
	if !aus[0].key || aus[0].mark != wantFirst {
		t.Errorf("first frame: mark %d key %v, want the key frame %d at or before from (%d)", aus[0].mark, aus[0].key, wantFirst, fromIdx)
	}
	// Every frame in order, segment A to its end, then B from its start.
	want := wantFirst
	for i, a := range aus {
		if a.mark != want {
			t.Fatalf("frame %d: mark %d, want %d", i, a.mark, want)
		}
		if want++; want == 250 {
			want = 1000
		}
	}
	last := aus[len(aus)-1]
	lastAt := 10*time.Second + time.Duration(last.mark-1000)*frameStep
	if last.mark < 1000 || lastAt > 1500*time.Millisecond+10*time.Second || lastAt < 1400*time.Millisecond+10*time.Second {
		t.Errorf("last frame %d (at %v): want the last at or before to (11.5 s)", last.mark, lastAt)
	}
	// Paced: the media span took at least as long to arrive (less a
	// little for the first frames' network delays), and the RTP clock
	// says the same span.
	span := lastAt - time.Duration(wantFirst)*frameStep
	if took := last.at.Sub(aus[0].at); took < span*9/10 {
		t.Errorf("%v of media arrived in %v: not paced in real time", span, took)
	}
	if ticks := last.rtp - aus[0].rtp; time.Duration(ticks)*time.Second/90000 != span {
		t.Errorf("RTP span %d ticks, want %v", ticks, span)
	}
	// Counted in the day's bytes like live view; the RTP cost against the
	// recording's own bytes for the frames sent.
	sent := m.BytesToday()
	file := recordedBytes(t, st, "gate", wantFirst, last.mark)
	if sent < uint64(file) {
		t.Errorf("bytes today %d, less than the %d bytes of the frames sent", sent, file)
	}
	t.Logf("%d frames, %v of media in %v; %d bytes sent for %d bytes of recording (×%.3f)",
		len(aus), span, last.at.Sub(aus[0].at), sent, file, float64(sent)/float64(file))
}

// recordedBytes sums the sample bytes of the frames marked first to last
// (segment A's 0–249, then B's 1000–) in cam's recordings.
func recordedBytes(t *testing.T, st *record.Store, cam string, first, last int) int64 {
	t.Helper()
	list, err := st.List(cam, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for k, in := range list {
		rd, _, err := st.Open(in.ID)
		if err != nil {
			t.Fatal(err)
		}
		f, err := demux.Open(rd, rd.Size())
		if err != nil {
			t.Fatal(err)
		}
		for i, smp := range f.Samples {
			if mark := k*1000 + i; mark >= first && mark <= last {
				n += int64(smp.Size)
			}
		}
		_ = rd.Close()
	}
	return n
}

// A seek lands on the key frame at or before the asked time, the RTP
// timestamps go on forward, and a playback without to closes at the end
// of the recordings.
func TestPlaybackSeek(t *testing.T) {
	t.Parallel()
	st := openRecordStore(t)
	recordSegment(t, st, "gate", t0, 250, 0)
	keysB := recordSegment(t, st, "gate", t0.Add(10*time.Second), 250, 1000)
	e := &ends{msgs: map[string]wire.LiveEndMsg{}}
	m := startManager(t, Options{Recordings: st, Publish: e.publish})

	v, _ := play(t, m, OfferRequest{Camera: "gate", From: t0.Add(time.Second), Speed: 4})
	devtest.WaitFor(t, 20*time.Second, "frames before the seek", func() bool { return len(v.list()) >= 10 })
	seekIdx := 2300/40 + 1
	wantKey := keyAtOrBefore(keysB, seekIdx)
	at, err := m.Seek(v.session, t0.Add(10*time.Second+time.Duration(seekIdx)*frameStep))
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(10*time.Second + time.Duration(wantKey)*frameStep); !at.Equal(want) {
		t.Errorf("seek lands at %v, want the key frame at %v", at, want)
	}
	devtest.WaitFor(t, 30*time.Second, "the playback to end", func() bool { _, ok := e.of(v.session); return ok })
	if end, _ := e.of(v.session); end.Reason != ReasonRecordingsEnd {
		t.Errorf("end reason %q, want %q", end.Reason, ReasonRecordingsEnd)
	}
	aus := v.waitLast(t, 1249)
	jumped := false
	for i := 1; i < len(aus); i++ {
		p, a := aus[i-1], aus[i]
		if d := int32(a.rtp - p.rtp); d <= 0 {
			t.Fatalf("frame %d: RTP time goes from %d to %d", i, p.rtp, a.rtp)
		}
		if a.mark == p.mark+1 {
			continue
		}
		if jumped {
			t.Fatalf("frame %d: a second jump, %d to %d", i, p.mark, a.mark)
		}
		jumped = true
		if a.mark != 1000+wantKey || !a.key {
			t.Errorf("after the seek: frame %d (key %v), want the key frame %d", a.mark, a.key, 1000+wantKey)
		}
		if d := time.Duration(a.rtp-p.rtp) * time.Second / 90000; d != frameStep/4 {
			t.Errorf("the seek steps the RTP clock by %v, want one frame at 4× (%v)", d, frameStep/4)
		}
	}
	if !jumped {
		t.Error("no jump seen in the frames")
	}
	if last := aus[len(aus)-1].mark; last != 1249 {
		t.Errorf("last frame %d, want the recordings' last (1249)", last)
	}
}

// Playback requests that cannot be served are refused, saying why.
func TestPlaybackErrors(t *testing.T) {
	t.Parallel()
	st := openRecordStore(t)
	recordSegment(t, st, "gate", t0, 50, 0)
	m := startManager(t, Options{Recordings: st})
	_, offer := makeOffer(t, viewerAPI(t), webrtc.RTPCodecTypeVideo)
	ctx := context.Background()
	for _, c := range []struct {
		req  OfferRequest
		want error
		text string
	}{
		{OfferRequest{Camera: "gate", From: t0.Add(-time.Hour), To: t0.Add(-59 * time.Minute)}, ErrNoRecording, "at or after"},
		{OfferRequest{Camera: "gate", From: t0.Add(time.Hour)}, ErrNoRecording, "at or after"},
		{OfferRequest{Camera: "yard", From: t0}, ErrNoRecording, "camera yard"},
		{OfferRequest{Camera: "gate", From: t0, To: t0.Add(-time.Second)}, ErrBadOffer, `"to" is not after`},
		{OfferRequest{Camera: "gate", From: t0, Speed: 3}, ErrBadOffer, "want 1, 2 or 4"},
		{OfferRequest{Camera: "gate", To: t0}, ErrBadOffer, `"to" needs "from"`},
	} {
		c.req.SDP = offer
		_, err := m.Offer(ctx, c.req)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%+v: %v, want %v mentioning %q", c.req, err, c.want, c.text)
		}
	}
	if _, err := m.Seek(strings.Repeat("0", 32), t0); !errors.Is(err, ErrUnknownSession) {
		t.Errorf("seek of no session: %v", err)
	}
	off := startManager(t, Options{})
	if _, err := off.Offer(ctx, OfferRequest{Camera: "gate", From: t0, SDP: offer}); !errors.Is(err, ErrNoRecording) {
		t.Errorf("playback on a gateway without recordings: %v", err)
	}
	for _, c := range []struct{ args, text string }{
		{`{"camera":"gate","sdp":"x","from":"yesterday"}`, "RFC 3339"},
		{`{"camera":"gate","sdp":"x","to":"2026-12-01T08:00:00Z"}`, `"to" needs "from"`},
		{`{"camera":"gate","sdp":"x","from":"2026-12-01T08:00:00Z","speed":8}`, "want 1, 2 or 4"},
	} {
		if _, err := decodeOffer(json.RawMessage(c.args)); err == nil || !strings.Contains(err.Error(), c.text) {
			t.Errorf("live.offer %s: %v, want an error mentioning %q", c.args, err, c.text)
		}
	}
	if r, err := decodeOffer(json.RawMessage(`{"camera":"gate","sdp":"x","from":"2026-12-01T15:00:00+07:00","to":"2026-12-01T15:30:00+07:00","speed":2}`)); err != nil ||
		!r.From.Equal(t0) || !r.To.Equal(t0.Add(30*time.Minute)) || r.Speed != 2 {
		t.Errorf("live.offer with a range: %+v, %v", r, err)
	}
	for _, c := range []struct{ args, text string }{
		{`{"session":"` + strings.Repeat("a", 32) + `","time":"noon"}`, "RFC 3339"},
		{`{"session":"` + strings.Repeat("a", 32) + `"}`, `missing argument "time"`},
		{`{"session":"x","time":"2026-12-01T08:00:00Z"}`, "not a session id"},
	} {
		if _, _, err := decodeSeek(json.RawMessage(c.args)); err == nil || !strings.Contains(err.Error(), c.text) {
			t.Errorf("live.seek %s: %v, want an error mentioning %q", c.args, err, c.text)
		}
	}
}

// Real headless Chromium plays a recording through WHEP (?from=&to=): it
// decodes frames of the recorded size, and the end of the range closes
// the session.
func TestPlaybackChromiumWHEP(t *testing.T) {
	t.Parallel()
	st := openRecordStore(t)
	recordSegment(t, st, "gate", t0, 250, 0)
	m := startManager(t, Options{Recordings: st})
	base := servePage(t, m)
	ctx := startChromium(t, base+"/")
	q := "?from=" + t0.Add(2*time.Second).Format(time.RFC3339) + "&to=" + t0.Add(6*time.Second).Format(time.RFC3339)
	loc, err := chromedp.Run(ctx, chromedp.Evaluate[string](`start("gate", "", "`+q+`")`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("start the viewer: %v", err)
	}
	if !strings.HasPrefix(loc, "/api/cameras/gate/whep/") {
		t.Fatalf("Location %q", loc)
	}
	var bs browserStats
	devtest.WaitFor(t, 30*time.Second, "Chromium to decode 25 recorded frames", func() bool {
		if bs, err = chromedp.Run(ctx, chromedp.Evaluate[browserStats](`stats()`, chromedp.EvalAwaitPromise)); err != nil {
			t.Fatalf("getStats: %v", err)
		}
		return bs.Video.FramesDecoded >= 25
	})
	if bs.Video.FrameWidth != 320 || bs.Video.FrameHeight != 180 {
		t.Errorf("Chromium decodes %dx%d, the recording is 320x180", bs.Video.FrameWidth, bs.Video.FrameHeight)
	}
	t.Logf("Chromium: %d recorded frames decoded %.0f ms after start()", bs.Video.FramesDecoded, bs.Ms)
	devtest.WaitFor(t, 20*time.Second, "the end of the range to close the session", func() bool { return m.Viewers() == 0 })
}

// Over MQTT, as the station relays it: live.offer with from and to plays
// a recording, live.seek answers the key frame it lands on, and the end
// notice arrives on live/{session}/end.
func TestPlaybackOverMQTT(t *testing.T) {
	t.Parallel()
	st := openRecordStore(t)
	keys := recordSegment(t, st, "gate", t0, 250, 0)
	broker := mqtttest.Start(t, mqtttest.Options{})
	topics := wire.Topics{Prefix: "antt", Gateway: "cong-khu-3"}
	var sess *uplink.Session
	publish := func(ctx context.Context, levels string, qos byte, payload []byte) error {
		return sess.Publish(ctx, levels, qos, payload)
	}
	m := startManager(t, Options{Recordings: st, Publish: publish})
	sess = runUplink(t, broker.URL(), m)
	stn := newStation(t, broker.URL(), topics)
	endc := make(chan []byte, 1)
	if tok := stn.c.Subscribe(topics.Base()+wire.TopicLive+"/+/end", 1, func(_ mqtt.Client, msg mqtt.Message) { endc <- msg.Payload() }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	devtest.WaitFor(t, 10*time.Second, "the gateway's uplink", func() bool { return sess.State().Connected })

	v, offer := newPlayViewer(t)
	pc := v.pc
	ans := stn.call(t, CmdOffer, "play-1", map[string]any{"camera": "gate", "sdp": offer,
		"from": t0.Add(time.Second).Format(time.RFC3339), "to": t0.Add(8 * time.Second).Format(time.RFC3339), "speed": 2})
	if string(ans["ok"]) != "true" {
		t.Fatalf("live.offer with from: %s", ans["error"])
	}
	var session, sdp string
	_ = json.Unmarshal(ans["session"], &session)
	_ = json.Unmarshal(ans["sdp"], &sdp)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		t.Fatal(err)
	}
	devtest.WaitFor(t, 20*time.Second, "frames", func() bool { return len(v.list()) >= 5 })
	seekIdx := 5200/40 + 2
	seek := stn.call(t, CmdSeek, "seek-1", map[string]any{"session": session, "time": t0.Add(time.Duration(seekIdx) * frameStep).Format(time.RFC3339Nano)})
	var at string
	_ = json.Unmarshal(seek["time"], &at)
	if want := t0.Add(time.Duration(keyAtOrBefore(keys, seekIdx)) * frameStep).Format(time.RFC3339Nano); string(seek["ok"]) != "true" || at != want {
		t.Errorf("live.seek: %v, want time %s", seek, want)
	}
	bad := stn.call(t, CmdSeek, "seek-2", map[string]any{"session": session, "time": t0.Add(time.Hour).Format(time.RFC3339)})
	if string(bad["ok"]) != "false" || !strings.Contains(string(bad["error"]), "after the session's end") {
		t.Errorf("live.seek past to: %v", bad)
	}
	select {
	case b := <-endc:
		var msg wire.LiveEndMsg
		if err := json.Unmarshal(b, &msg); err != nil || msg.Session != session || msg.Reason != ReasonRangeEnd {
			t.Errorf("end notice %s (%v), want session %s reason %q", b, err, session, ReasonRangeEnd)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no end notice on live/{session}/end")
	}
	if n := len(v.list()); n < 10 {
		t.Errorf("%d frames arrived", n)
	}
}

// A recording that cannot be read (its moov overwritten) is passed over,
// and one cut short under its index (a failing card) plays as far as it
// can: the playback goes on with the next.
func TestPlaybackPassesOverBrokenRecordings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := openRecordStoreIn(t, dir)
	recordSegment(t, st, "gate", t0, 250, 0)
	recordSegment(t, st, "gate", t0.Add(10*time.Second), 250, 1000)
	recordSegment(t, st, "gate", t0.Add(20*time.Second), 250, 2000)
	list, err := st.List("gate", time.Time{}, time.Time{})
	if err != nil || len(list) != 3 {
		t.Fatalf("%d recordings, %v", len(list), err)
	}
	a := filepath.Join(dir, list[0].ID+".mp4")
	b, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("moov"))
	copy(b[i:], "junk")
	if err := os.WriteFile(a, b, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, list[1].ID+".mp4"), list[1].Bytes/2); err != nil {
		t.Fatal(err)
	}
	e := &ends{msgs: map[string]wire.LiveEndMsg{}}
	m := startManager(t, Options{Recordings: st, Publish: e.publish})
	v, _ := play(t, m, OfferRequest{Camera: "gate", From: t0.Add(2 * time.Second), Speed: 4})
	devtest.WaitFor(t, 30*time.Second, "the playback to end", func() bool { _, ok := e.of(v.session); return ok })
	if end, _ := e.of(v.session); end.Reason != ReasonRecordingsEnd {
		t.Errorf("end reason %q", end.Reason)
	}
	aus := v.waitLast(t, 2249)
	if len(aus) == 0 || aus[0].mark != 1000 || !aus[0].key {
		t.Fatalf("first frame %+v, want B's first key frame (1000)", aus[:min(len(aus), 1)])
	}
	sawC := false
	for i := 1; i < len(aus); i++ {
		if aus[i].mark != aus[i-1].mark+1 {
			if aus[i].mark != 2000 || aus[i-1].mark < 1010 || aus[i-1].mark > 1200 {
				t.Fatalf("frame %d: %d after %d, want B's first half then C from 2000", i, aus[i].mark, aus[i-1].mark)
			}
			sawC = true
		}
	}
	if !sawC || aus[len(aus)-1].mark != 2249 {
		t.Errorf("C not played to its end: last %d", aus[len(aus)-1].mark)
	}
}

// A viewer behind in reading when the playback sends its last frame (a
// busy phone, a loaded test machine) still gets every frame: the end
// waits for the viewer's report of the last packet. It closed at once,
// its DTLS close_notify right behind the last packets, and the viewer
// closed on it with them still unread in its buffers: the last frames
// never showed.
func TestPlaybackEndWaitsForSlowViewer(t *testing.T) {
	t.Parallel()
	st := openRecordStore(t)
	recordSegment(t, st, "gate", t0, 100, 0)
	e := &ends{msgs: map[string]wire.LiveEndMsg{}}
	m := startManager(t, Options{Recordings: st, Publish: e.publish})
	v, offer := newPlayViewer(t)
	hold := make(chan struct{})
	v.mu.Lock()
	v.hold = hold
	v.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ans, err := m.Offer(ctx, OfferRequest{Camera: "gate", From: t0, Speed: 4, SDP: offer})
	if err != nil {
		t.Fatalf("playback offer: %v", err)
	}
	v.session = ans.Session
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP}); err != nil {
		t.Fatal(err)
	}
	// The viewer reads nothing until the gateway has sent the last frame.
	devtest.WaitFor(t, 30*time.Second, "the gateway to send all 100 frames", func() bool {
		s, err := m.lookup(ans.Session)
		return err != nil || s.st.frames.Load() >= 100
	})
	close(hold)
	aus := v.waitLast(t, 99)
	devtest.WaitFor(t, 10*time.Second, "the end notice", func() bool { _, ok := e.of(v.session); return ok })
	if end, _ := e.of(v.session); end.Reason != ReasonRecordingsEnd {
		t.Errorf("end reason %q, want %q", end.Reason, ReasonRecordingsEnd)
	}
	for i, a := range aus {
		if a.mark != i {
			t.Fatalf("frame %d: mark %d, want every frame in order", i, a.mark)
		}
	}
}
