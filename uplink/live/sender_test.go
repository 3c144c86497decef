package live

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/antt-gateway/antt/device/camera"
	"github.com/antt-gateway/antt/device/camera/h264"
	"github.com/antt-gateway/antt/device/devtest"
)

// recWriter records what a track writes: the RTP layer pion would encrypt.
type recWriter struct {
	mu   sync.Mutex
	pkts []recPkt
}

type recPkt struct {
	h       rtp.Header
	payload []byte
	at      time.Time
}

func (w *recWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pkts = append(w.pkts, recPkt{h: *h, payload: p, at: time.Now()})
	return len(p) + 12, nil
}

func (w *recWriter) Write(b []byte) (int, error) { return len(b), nil }

// frames returns one entry per access unit written (marker-ended).
func (w *recWriter) frames() []recPkt {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []recPkt
	start := true
	for _, p := range w.pkts {
		if start {
			out = append(out, p)
		}
		start = p.h.Marker
	}
	return out
}

func boundTrack(mime string, w *recWriter, ssrc uint32) *track {
	t := newTrack(webrtc.RTPCodecCapability{MimeType: mime}, "t", "s")
	t.bound, t.writer, t.ssrc, t.pt = true, w, ssrc, 102
	t.playout = 3 // as if negotiated: only the sender's playoutMode decides
	return t
}

// testUnits makes a GOP: an IDR then P frames, 40 ms apart (25 fps).
func testUnits(first uint64, n int, epoch uint64, key0 bool, size int) []*unit {
	var us []*unit
	for i := range n {
		num := first + uint64(i)
		key := key0 && i == 0
		nal := bytes.Repeat([]byte{byte(num)}, size)
		if key {
			nal = append([]byte{0x65}, bytes.Repeat([]byte{1}, size*10)...)
		} else {
			nal[0] = 0x41
		}
		u := &unit{n: num, epoch: epoch, kind: camera.Video, codec: camera.H264, key: key, marker: true,
			rtp: uint32(num) * 3600, pts: time.Duration(num) * 40 * time.Millisecond}
		u.pkts = packetizeH264([][]byte{nal}, key, []byte{0x67, 1, 2, 3}, []byte{0x68, 4}, MaxPayload)
		for _, p := range u.pkts {
			u.size += len(p)
		}
		us = append(us, u)
	}
	return us
}

type senderRig struct {
	f   *feed
	v   *viewer
	w   *recWriter
	st  *counters
	end func()
}

func startSender(t *testing.T, cache []*unit, p pacing) *senderRig {
	t.Helper()
	f := &feed{name: "t", done: make(chan struct{}), ready: make(chan struct{}), cache: cache, cacheOK: len(cache) > 0, maxCache: 1 << 20}
	w := &recWriter{}
	st := &counters{}
	v := newViewer(f, boundTrack("video/H264", w, 1), nil, camera.H264, "", 90000, 8000, 16, p, st, time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		v.run(ctx)
	}()
	devtest.WaitFor(t, 5*time.Second, "the viewer to join", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.viewers) == 1
	})
	r := &senderRig{f: f, v: v, w: w, st: st, end: func() { cancel(); <-done }}
	t.Cleanup(r.end)
	return r
}

var testPacing = pacing{rate: 1e6, spacing: 5 * time.Millisecond, maxAge: 3 * time.Second, pliEvery: time.Second, maxBytes: 1 << 20}

// A new viewer gets the cached GOP fast-forwarded: key frame first, paced,
// timestamps squeezed far below the GOP's own span, and the first live
// frame one frame interval after the last cached one.
func TestSenderCatchUpEndsAtLiveEdge(t *testing.T) {
	gop := testUnits(0, 10, 1, true, 1500)
	r := startSender(t, gop, testPacing)
	devtest.WaitFor(t, 5*time.Second, "the cached GOP", func() bool { return len(r.w.frames()) == 10 })
	live := testUnits(10, 1, 1, false, 1500)[0]
	r.f.fanOut(live)
	devtest.WaitFor(t, 5*time.Second, "the live frame", func() bool { return len(r.w.frames()) == 11 })
	fr := r.w.frames()
	if fr[0].payload[0]&0x1f != nalSTAPA {
		t.Errorf("first packet is type %d, want a STAP-A", fr[0].payload[0]&0x1f)
	}
	for i := 1; i < 10; i++ {
		dts := int32(fr[i].h.Timestamp - fr[i-1].h.Timestamp)
		gap := fr[i].at.Sub(fr[i-1].at)
		if dts < 450 { // 5 ms at 90 kHz
			t.Errorf("catch-up frame %d: %d ticks after the one before, want ≥ 450 (the spacing)", i, dts)
		}
		if gap < testPacing.spacing-time.Millisecond {
			t.Errorf("catch-up frame %d sent %v after the one before, want ≥ %v", i, gap, testPacing.spacing)
		}
	}
	span := fr[9].h.Timestamp - fr[0].h.Timestamp
	if span >= 9*3600 {
		t.Errorf("catch-up spans %d ticks, not faster than the camera's %d", span, 9*3600)
	}
	if d := fr[10].h.Timestamp - fr[9].h.Timestamp; d != 3600 {
		t.Errorf("the live frame is %d ticks after the last cached one, want 3600 (one frame)", d)
	}
	for i := 1; i < len(r.w.pkts); i++ {
		if r.w.pkts[i].h.SequenceNumber != r.w.pkts[i-1].h.SequenceNumber+1 {
			t.Fatalf("sequence gap at packet %d", i)
		}
	}
	if n := r.st.catchUp.Load(); n != 10 {
		t.Errorf("%d catch-up frames counted, want 10", n)
	}
}

// A cache too old to fast-forward: its key frame is shown alone, then the
// viewer waits for the camera's next key frame.
func TestSenderOldGOPStillThenNextKey(t *testing.T) {
	gop := testUnits(0, 100, 1, true, 200) // 4 s at 25 fps
	r := startSender(t, gop, testPacing)
	devtest.WaitFor(t, 5*time.Second, "the still", func() bool { return len(r.w.frames()) == 1 })
	for _, u := range testUnits(100, 3, 1, false, 200) {
		r.f.fanOut(u)
	}
	key := testUnits(103, 2, 1, true, 200)
	for _, u := range key {
		r.f.fanOut(u)
	}
	devtest.WaitFor(t, 5*time.Second, "the next key frame and the frame after it", func() bool { return len(r.w.frames()) == 3 })
	if r.st.stills.Load() != 1 || r.st.skipped.Load() != 3 {
		t.Errorf("stills %d, skipped %d; want 1 and 3", r.st.stills.Load(), r.st.skipped.Load())
	}
	fr := r.w.frames()
	if fr[1].payload[0]&0x1f != nalSTAPA {
		t.Error("after the still, the next frame sent is not the new key frame")
	}
}

// A PLI replays the cached GOP from its key frame (timestamps still
// increasing). PLIs inside the interval after the start (the start counts
// as a replay) or after a replay are not answered.
func TestSenderPLIReplay(t *testing.T) {
	gop := testUnits(0, 3, 1, true, 300)
	p := testPacing
	p.pliEvery = 2 * time.Second
	r := startSender(t, gop, p)
	devtest.WaitFor(t, 5*time.Second, "the cached GOP", func() bool { return len(r.w.frames()) == 3 })
	// A decoder asks again and again until it gets a picture.
	devtest.WaitFor(t, 10*time.Second, "a replay after PLIs", func() bool {
		if r.st.replays.Load() == 1 {
			return true
		}
		r.v.askPicture()
		return false
	})
	if r.st.ignored.Load() == 0 {
		t.Error("PLIs right after the start were answered")
	}
	devtest.WaitFor(t, 5*time.Second, "the replayed GOP", func() bool { return len(r.w.frames()) == 6 })
	devtest.WaitFor(t, 5*time.Second, "the PLI to be taken", func() bool { return len(r.v.pli) == 0 })
	ignored := r.st.ignored.Load()
	r.v.askPicture()
	devtest.WaitFor(t, 5*time.Second, "a PLI after the replay to be ignored", func() bool { return r.st.ignored.Load() > ignored })
	fr := r.w.frames()
	if fr[3].payload[0]&0x1f != nalSTAPA {
		t.Error("the replay does not start with the key frame")
	}
	for i := 1; i < len(fr); i++ {
		if int32(fr[i].h.Timestamp-fr[i-1].h.Timestamp) <= 0 {
			t.Errorf("frame %d: timestamp does not increase across the replay", i)
		}
	}
	if n := r.st.replays.Load(); n != 1 || len(fr) != 6 {
		t.Errorf("%d replays, %d frames; want 1 and 6", n, len(fr))
	}
}

// A viewer whose queue is full loses frames up to the next key frame,
// without the feed waiting for it.
func TestViewerFullQueueSkipsToKey(t *testing.T) {
	f := &feed{name: "t", done: make(chan struct{}), ready: make(chan struct{})}
	st := &counters{}
	v := newViewer(f, boundTrack("video/H264", &recWriter{}, 1), nil, camera.H264, "", 90000, 8000, 2, testPacing, st, time.Now())
	us := testUnits(0, 5, 1, true, 100)
	for _, u := range us {
		v.offer(u) // nobody reads: the queue holds 2
	}
	if len(v.q) != 2 || st.dropped.Load() != 3 {
		t.Fatalf("queue %d, dropped %d; want 2 and 3", len(v.q), st.dropped.Load())
	}
	<-v.q
	<-v.q
	v.offer(testUnits(5, 1, 1, false, 100)[0])
	if len(v.q) != 0 {
		t.Error("a P frame was queued after a loss, before a key frame")
	}
	v.offer(testUnits(6, 1, 1, true, 100)[0])
	if len(v.q) != 1 {
		t.Error("the key frame after a loss was not queued")
	}
}

// H.264 packetisation: parameter sets in a STAP-A before the IDR, FU-A for
// large NAL units, every payload within MaxPayload; our depacketiser gets
// the same access unit back.
func TestPacketizeH264RoundTrip(t *testing.T) {
	clip, err := os.ReadFile(moduleFile(t, "testdata/camera/clip-320x180-25fps.h264"))
	if err != nil {
		t.Fatal(err)
	}
	var sps, pps []byte
	for _, n := range h264.SplitAnnexB(clip) {
		switch n[0] & 0x1f {
		case nalSPS:
			sps = n
		case nalPPS:
			pps = n
		}
		if sps != nil && pps != nil {
			break
		}
	}
	idr := append([]byte{0x65, 0x88}, bytes.Repeat([]byte{7, 8, 9}, 1500)...)
	slice2 := append([]byte{0x65, 0x40}, bytes.Repeat([]byte{3}, 300)...) // first_mb_in_slice 1
	for _, tc := range []struct {
		name  string
		nalus [][]byte
	}{
		{"parameter sets in the AU", [][]byte{{0x09, 0xf0}, sps, pps, idr, slice2}},
		{"parameter sets from the track", [][]byte{idr, slice2}},
	} {
		pkts := packetizeH264(tc.nalus, true, sps, pps, MaxPayload)
		if pkts[0][0]&0x1f != nalSTAPA {
			t.Fatalf("%s: first payload type %d", tc.name, pkts[0][0]&0x1f)
		}
		var got *h264.AccessUnit
		d := h264.NewDepacketizer(nil, nil, func(au *h264.AccessUnit) {
			c := *au
			c.NALUs = nil
			for _, n := range au.NALUs {
				c.NALUs = append(c.NALUs, append([]byte{}, n...))
			}
			got = &c
		})
		for i, p := range pkts {
			if len(p) > MaxPayload {
				t.Errorf("%s: payload %d is %d bytes", tc.name, i, len(p))
			}
			h := &rtp.Header{SequenceNumber: uint16(i), Timestamp: 9000, Marker: i == len(pkts)-1}
			if err := d.Push(h, p); err != nil {
				t.Fatalf("%s: packet %d: %v", tc.name, i, err)
			}
		}
		if got == nil || !got.Key {
			t.Fatalf("%s: no key access unit came back", tc.name)
		}
		want := [][]byte{sps, pps, idr, slice2}
		if len(got.NALUs) != len(want) {
			t.Fatalf("%s: %d NAL units back, want %d", tc.name, len(got.NALUs), len(want))
		}
		for i := range want {
			if !bytes.Equal(got.NALUs[i], want[i]) {
				t.Errorf("%s: NAL unit %d differs", tc.name, i)
			}
		}
	}
}

// A viewer joining a feed whose camera hub has stopped is told at once,
// so its session ends instead of waiting for frames that never come.
func TestViewerJoinsEndedFeed(t *testing.T) {
	f := &feed{name: "t", done: make(chan struct{}), ready: make(chan struct{}), ended: true}
	v := newViewer(f, boundTrack("video/H264", &recWriter{}, 1), nil, camera.H264, "", 90000, 8000, 2, testPacing, &counters{}, time.Now())
	done := make(chan struct{})
	go func() {
		defer close(done)
		v.run(context.Background())
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the viewer of an ended feed still runs")
	}
}

// With the playout-delay extension negotiated, every packet of a
// fast-forwarded frame asks for min = max = 0 and the live frames right
// after the catch-up give the browser its defaults back (0 to 10 s); in
// playoutOff no packet carries an extension.
func TestSenderPlayoutDelay(t *testing.T) {
	for _, mode := range []playoutMode{playoutOff, playoutCatchUp} {
		gop := testUnits(0, 5, 1, true, 1500)
		p := testPacing
		p.playout = mode
		r := startSender(t, gop, p)
		devtest.WaitFor(t, 5*time.Second, "the cached GOP", func() bool { return len(r.w.frames()) == 5 })
		r.f.fanOut(testUnits(5, 1, 1, false, 1500)[0])
		devtest.WaitFor(t, 5*time.Second, "the live frame", func() bool { return len(r.w.frames()) == 6 })
		r.w.mu.Lock()
		pkts := append([]recPkt(nil), r.w.pkts...)
		r.w.mu.Unlock()
		frame := 0
		for i, pk := range pkts {
			ext := pk.h.GetExtension(3)
			var want []byte
			switch {
			case mode == playoutOff:
			case frame < 5:
				want = playoutZero
			default:
				want = playoutDefault
			}
			if !bytes.Equal(ext, want) {
				t.Errorf("mode %d: packet %d (frame %d) carries playout delay %x, want %x", mode, i, frame, ext, want)
			}
			if pk.h.Marker {
				frame++
			}
		}
		var pd rtp.PlayoutDelayExtension
		if err := pd.Unmarshal(playoutDefault); err != nil || pd.MinDelay != 0 || pd.MaxDelay != 1000 {
			t.Errorf("playoutDefault decodes as %+v (%v), want 0 and 1000 (10 s in 10 ms units)", pd, err)
		}
		r.end()
	}
}
