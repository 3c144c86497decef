package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/clips"
	"github.com/antt-gateway/antt/device/clipupload"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// memClip is a gateway's clip store of one clip.
type memClip struct {
	id   string
	data []byte
}

func (c memClip) Info(id string) (wire.ClipInfo, error) {
	if id != c.id {
		return wire.ClipInfo{}, fmt.Errorf("no clip %q", id)
	}
	s := sha256.Sum256(c.data)
	return wire.ClipInfo{ID: c.id, Camera: "cong", Bytes: int64(len(c.data)), SHA256: hex.EncodeToString(s[:])}, nil
}
func (c memClip) List(string, time.Time, time.Time) ([]wire.ClipInfo, error) { return nil, nil }
func (c memClip) Open(string) (io.ReadCloser, error)                         { return nopRC{bytes.NewReader(c.data)}, nil }

type nopRC struct{ *bytes.Reader }

func (nopRC) Close() error { return nil }

// oneEvent is an outbox holding the clip's event until it is acknowledged.
type oneEvent struct {
	mu    sync.Mutex
	msg   *uplink.Message
	ready chan struct{}
}

func (q *oneEvent) Peek(after uint64, _ int, _ int64) ([]uplink.Message, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.msg == nil || q.msg.Seq <= after {
		return nil, nil
	}
	return []uplink.Message{*q.msg}, nil
}

func (q *oneEvent) Ack(seqs ...uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, s := range seqs {
		if q.msg != nil && q.msg.Seq == s {
			q.msg = nil
		}
	}
	return nil
}

func (q *oneEvent) Notify() <-chan struct{} { return q.ready }

func (q *oneEvent) delivered(uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.msg == nil
}

// paced spaces the chunks out so that the station can be killed in the
// middle of an upload (the pace is the test's, not a synchronisation).
type paced struct{ s *uplink.Session }

func (p paced) Publish(ctx context.Context, levels string, qos byte, b []byte) error {
	time.Sleep(5 * time.Millisecond)
	return p.s.Publish(ctx, levels, qos, b)
}

// The station binary is killed with SIGKILL in the middle of an
// automatic upload and started again on the same data: the gateway's
// uploader resumes from its last acknowledged chunk, and the station
// ends with the whole clip, its SHA-256 the one its event announced,
// nothing refused.
func TestStationKilledDuringUploadResumes(t *testing.T) {
	data, listen := t.TempDir(), devtest.FreeAddr(t)
	st := startStation(t, data, listen)

	const gw = "cong-khu-3"
	n := 40 * wire.ClipChunkMax
	if testing.Short() {
		n = 16 * wire.ClipChunkMax
	}
	clip := memClip{id: "cong-20261202t031500z", data: make([]byte, n-777)}
	r := rand.New(rand.NewPCG(3, 4))
	for i := range clip.data {
		clip.data[i] = byte(r.Uint32())
	}
	info, _ := clip.Info(clip.id)
	ev, err := json.Marshal(wire.Event{Seq: 1, ID: wire.EventID(gw, 1), Epoch: "e1", Kind: wire.KindClip, Source: "cong",
		Time: time.Now().UTC(), ClockSynced: true, Boot: "b1", Attrs: map[string]any{
			wire.ClipAttrID: info.ID, wire.ClipAttrBytes: info.Bytes, wire.ClipAttrSHA256: info.SHA256, wire.ClipAttrUpload: "auto"}})
	if err != nil {
		t.Fatal(err)
	}
	q := &oneEvent{msg: &uplink.Message{Seq: 1, Payload: ev}, ready: make(chan struct{}, 1)}

	log := slog.New(slog.DiscardHandler)
	u, _ := url.Parse("mqtt://" + listen)
	cfg := uplink.Config{Broker: u, Gateway: gw, KeepAlive: 2 * time.Second, TelemetryInterval: time.Hour,
		ConnectTimeout: 2 * time.Second, Version: "test", Boot: "b1", Epoch: "e1", Started: time.Now()}
	cfg.Backoff.Min, cfg.Backoff.Max = 10*time.Millisecond, 200*time.Millisecond
	sess := uplink.New(cfg, q, nil, nil, log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sdone := make(chan error, 1)
	go func() { sdone <- sess.Run(ctx) }()
	defer func() { cancel(); <-sdone }()

	up, err := clipupload.New(clip, paced{sess}, clipupload.Options{Dir: t.TempDir(), Retry: 20 * time.Millisecond,
		Poll: 10 * time.Millisecond, Delivered: q.delivered, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	udone := make(chan error, 1)
	go func() { udone <- up.Run(ctx) }()
	defer func() { cancel(); <-udone }()
	if err := up.Auto(clip.id, 1); err != nil {
		t.Fatal(err)
	}

	third := int64(len(clip.data) / 3)
	devtest.WaitFor(t, 60*time.Second, "a third of the clip acknowledged", func() bool { return up.Stats().BytesToday >= third })
	st.kill()
	if s := up.Stats(); s.Pending != 1 || s.BytesToday >= int64(len(clip.data)) {
		t.Fatalf("the upload ended before the station was killed: %+v", s)
	}
	st = startStation(t, data, listen)
	devtest.WaitFor(t, 120*time.Second, "the upload finished", func() bool { return up.Stats().Pending == 0 })
	st.stop(t) // checks nothing was dropped or refused (invalid=0)

	cs, err := clips.Open(data, clips.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	f, s, err := cs.Open(gw, clip.id)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, _ := io.ReadAll(f)
	if s.State != clips.Complete || !bytes.Equal(got, clip.data) {
		t.Fatalf("station holds %d bytes (%s), want the clip's %d", len(got), s.State, len(clip.data))
	}
	// Each acknowledged chunk moves the offset on: acknowledged bytes above
	// the clip's length, beyond the chunks in flight at the kill (the
	// uploader's window of 4, which may be acknowledged out of order and
	// sent again), would mean the upload started over.
	if sent := up.Stats().BytesToday; sent < int64(len(clip.data)) || sent > int64(len(clip.data))+4*wire.ClipChunkMax {
		t.Fatalf("%d bytes acknowledged for a clip of %d: the upload did not resume where it stopped", sent, len(clip.data))
	}
}

// With an external broker (Mosquitto), the station's QoS 1 subscriber
// stores clip chunks the same way: a clip event and its chunks published
// right after it reach the clip store whole.
func TestExternalBrokerStoresClips(t *testing.T) {
	br := mqtttest.Start(t, mqtttest.Options{})
	data := t.TempDir()
	st := startExternalStation(t, data, br.Addr())

	const gw = "truong-th-chi-dam"
	clip := memClip{id: "san-20261202t040000z", data: make([]byte, 5*wire.ClipChunkMax+99)}
	for i := range clip.data {
		clip.data[i] = byte(i * 13)
	}
	info, _ := clip.Info(clip.id)
	ev, _ := json.Marshal(wire.Event{Seq: 1, ID: wire.EventID(gw, 1), Epoch: "e1", Kind: wire.KindClip, Source: "san",
		Time: time.Now().UTC(), ClockSynced: true, Boot: "b1", Attrs: map[string]any{
			wire.ClipAttrID: info.ID, wire.ClipAttrBytes: info.Bytes, wire.ClipAttrSHA256: info.SHA256, wire.ClipAttrUpload: "auto"}})
	q := &oneEvent{msg: &uplink.Message{Seq: 1, Payload: ev}, ready: make(chan struct{}, 1)}
	log := slog.New(slog.DiscardHandler)
	u, _ := url.Parse("mqtt://" + br.Addr())
	cfg := uplink.Config{Broker: u, Gateway: gw, KeepAlive: 5 * time.Second, TelemetryInterval: time.Hour,
		ConnectTimeout: 2 * time.Second, Version: "test", Boot: "b1", Epoch: "e1", Started: time.Now()}
	sess := uplink.New(cfg, q, nil, nil, log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sdone := make(chan error, 1)
	go func() { sdone <- sess.Run(ctx) }()
	defer func() { cancel(); <-sdone }()
	up, err := clipupload.New(clip, sess, clipupload.Options{Dir: t.TempDir(), Poll: 5 * time.Millisecond, Delivered: q.delivered, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = up.Run(ctx) }()
	if err := up.Auto(clip.id, 1); err != nil {
		t.Fatal(err)
	}
	devtest.WaitFor(t, 30*time.Second, "the upload acknowledged by Mosquitto", func() bool { return up.Stats().Pending == 0 })
	devtest.WaitFor(t, 30*time.Second, "the station printed the clip event", func() bool { return st.printed(gw, 1) })
	// The station stores the chunks after the event; stop it once they are
	// in (its index is then readable) and look.
	var got []byte
	devtest.WaitFor(t, 30*time.Second, "the clip complete at the station", func() bool {
		st.term(t)
		cs, err := clips.Open(data, clips.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		if f, _, err := cs.Open(gw, clip.id); err == nil {
			got, _ = io.ReadAll(f)
			f.Close()
			return true
		}
		st = startExternalStation(t, data, br.Addr())
		return false
	})
	if !bytes.Equal(got, clip.data) {
		t.Fatalf("station holds %d bytes, want the clip's %d", len(got), len(clip.data))
	}
}
