package clips_test

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
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/broker"
	"github.com/antt-gateway/antt/cmd/station/internal/clips"
	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/device/clipupload"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// clipStation starts the station's side of a clip upload on loopback: an
// events store, a clip store and the embedded broker ingesting clip chunks
// into them, all stopped when tb ends. It returns the clip store, the
// broker (for its counters) and the broker's address.
func clipStation(tb testing.TB, log *slog.Logger) (*clips.Store, *broker.Broker, string) {
	tb.Helper()
	dir := tb.TempDir()
	st, err := store.Open(filepath.Join(dir, "events.db"), store.Options{Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	cs, err := clips.Open(dir, clips.Options{Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cs.Close() })
	emb, err := broker.New(broker.Options{Listen: "127.0.0.1:0",
		Ingest: broker.ClipStoreIngester(clips.Ingest{Next: st, Clips: cs}), Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(func() { cancel(); emb.Wait() })
	addr, err := emb.Start(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return cs, emb, addr
}

// oneClip is a gateway's clip store holding one clip.
type oneClip struct {
	id   string
	data []byte
}

func (c oneClip) Info(id string) (wire.ClipInfo, error) {
	if id != c.id {
		return wire.ClipInfo{}, fmt.Errorf("no clip %q", id)
	}
	s := sha256.Sum256(c.data)
	return wire.ClipInfo{ID: c.id, Camera: "cong", Bytes: int64(len(c.data)), SHA256: hex.EncodeToString(s[:])}, nil
}

func (c oneClip) List(string, time.Time, time.Time) ([]wire.ClipInfo, error) { return nil, nil }

func (c oneClip) Open(id string) (io.ReadCloser, error) {
	if id != c.id {
		return nil, fmt.Errorf("no clip %q", id)
	}
	return nopCloser{bytes.NewReader(c.data)}, nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// emptyQueue is an outbox with nothing in it.
type emptyQueue struct{ n chan struct{} }

func (emptyQueue) Peek(uint64, int, int64) ([]uplink.Message, error) { return nil, nil }
func (emptyQueue) Ack(...uint64) error                               { return nil }
func (q emptyQueue) Notify() <-chan struct{}                         { return q.n }

// A clip goes from the gateway's uploader through the uplink session, a
// proxy that cuts the link at random, and the embedded broker into the
// station's clip store: the upload resumes after each cut, the file's
// SHA-256 matches, and no chunk was refused (none landed where other
// bytes were).
func TestUploadThroughCuttingProxy(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	cs, emb, addr := clipStation(t, log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	proxy := mqtttest.NewProxy(t, addr)

	const gw = "cong-khu-3"
	chunks := 48
	if testing.Short() {
		chunks = 12
	}
	data := make([]byte, chunks*wire.ClipChunkMax-12345)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	src := oneClip{id: "cam1-20261202t030000z", data: data}
	info, _ := src.Info(src.id)
	if err := cs.Announce(clips.Info{Gateway: gw, ID: info.ID, Bytes: info.Bytes, SHA256: info.SHA256}); err != nil {
		t.Fatal(err)
	}

	u, _ := url.Parse("mqtt://" + proxy.Addr())
	cfg := uplink.Config{Broker: u, Gateway: gw, KeepAlive: 2 * time.Second, TelemetryInterval: time.Hour,
		ConnectTimeout: 2 * time.Second, Version: "test", Boot: "boot-1", Started: time.Now()}
	cfg.Backoff.Min, cfg.Backoff.Max = 5*time.Millisecond, 50*time.Millisecond
	sess := uplink.New(cfg, emptyQueue{make(chan struct{})}, nil, nil, log)
	sdone := make(chan error, 1)
	go func() { sdone <- sess.Run(ctx) }()
	defer func() { cancel(); <-sdone }()

	up, err := clipupload.New(src, pacedPub{sess, &sync.Mutex{}}, clipupload.Options{Dir: t.TempDir(), Retry: 5 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	udone := make(chan error, 1)
	go func() { udone <- up.Run(ctx) }()
	defer func() { cancel(); <-udone }()

	devtest.WaitFor(t, 20*time.Second, "the gateway connected", func() bool { return sess.State().Connected })
	if _, err := up.Handler(ctx, json.RawMessage(fmt.Sprintf(`{"clip":%q}`, src.id))); err != nil {
		t.Fatal(err)
	}
	// Cut the link at random points of the upload: each time the station
	// holds a little more than a random share of the clip.
	have := func() int64 { s, _, _ := cs.Status(gw, src.id); return s.Have }
	cuts := 5
	for i := range cuts {
		at := int64(len(data)) * int64(i+1) / int64(cuts+2)
		at += r.Int64N(int64(len(data)) / int64(2*(cuts+2)))
		// Cut a live connection: with chunks in flight (clipupload's
		// window) the next point may be held already while the gateway is
		// still reconnecting from the last cut, and a cut then severs
		// nothing.
		devtest.WaitFor(t, 60*time.Second, "upload progress", func() bool { return have() >= at && proxy.Cut() > 0 })
		if s, _, _ := cs.Status(gw, src.id); s.State == clips.Complete {
			t.Fatalf("the clip was complete before cut %d: the test proves nothing", i+1)
		}
	}
	devtest.WaitFor(t, 120*time.Second, "the clip complete at the station", func() bool {
		s, _, _ := cs.Status(gw, src.id)
		return s.State == clips.Complete
	})
	if proxy.Cuts() < cuts {
		t.Fatalf("only %d cuts during the upload: the test proves nothing", proxy.Cuts())
	}
	if _, invalid, failed := emb.Ingested(); invalid != 0 || failed != 0 {
		t.Fatalf("%d chunks refused, %d failed: a chunk was stored in a wrong place", invalid, failed)
	}
	f, s, err := cs.Open(gw, src.id)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, _ := io.ReadAll(f)
	if !bytes.Equal(got, data) || s.Have != int64(len(data)) {
		t.Fatalf("stored %d bytes, want the clip's %d", len(got), len(data))
	}
	// Nothing stored twice, counted by the store. Every chunk of the upload
	// lies on the same grid of offsets (multiples of wire.ClipChunkMax), so
	// a chunk is either wholly new or wholly held: each byte is written
	// once (Written is the clip's length, Rewritten 0). What a cut makes
	// the station receive again is bounded by the chunks in flight at that
	// cut: the session starts clean (no PUBLISH is resent by MQTT), and the
	// uploader goes on from the end of its run of acknowledged chunks, so
	// only chunks published and not yet acknowledged in file order, at
	// most clipupload.DefaultWindow of them, come again. Over the upload:
	// Resent <= cuts × DefaultWindow × ClipChunkMax.
	ws := cs.WriteStats()
	bound := int64(proxy.Cuts()) * clipupload.DefaultWindow * wire.ClipChunkMax
	t.Logf("%d bytes in %d chunks through %d link cuts: %+v (resent bound %d)", len(data), chunks, proxy.Cuts(), ws, bound)
	if ws.Written != int64(len(data)) || ws.Rewritten != 0 {
		t.Fatalf("%d bytes written for a clip of %d, %d of them over held bytes", ws.Written, len(data), ws.Rewritten)
	}
	if ws.Resent > bound {
		t.Fatalf("%d bytes received again through %d cuts, more than the %d chunks in flight at each", ws.Resent, proxy.Cuts(), clipupload.DefaultWindow)
	}

	// The station asks again for the complete clip: every chunk comes
	// again, none is written.
	before := up.Stats().BytesToday
	if _, err := up.Handler(ctx, json.RawMessage(fmt.Sprintf(`{"clip":%q}`, src.id))); err != nil {
		t.Fatal(err)
	}
	devtest.WaitFor(t, 60*time.Second, "the clip sent again", func() bool {
		s := up.Stats()
		return s.Pending == 0 && s.BytesToday >= before+int64(len(data))
	})
	again := cs.WriteStats()
	if again.Written != ws.Written || again.Rewritten != 0 || again.Resent-ws.Resent != int64(len(data)) {
		t.Fatalf("a resend of the complete clip: %+v, after the upload %+v; want nothing written, %d bytes resent", again, ws, len(data))
	}
}

// pacedPub lets one chunk start every 15 ms, however many are in flight,
// so that the cuts land in the middle of the upload (the pace is the
// test's, not a synchronisation).
type pacedPub struct {
	s  *uplink.Session
	mu *sync.Mutex
}

func (p pacedPub) Publish(ctx context.Context, levels string, qos byte, b []byte) error {
	p.mu.Lock()
	time.Sleep(15 * time.Millisecond)
	p.mu.Unlock()
	return p.s.Publish(ctx, levels, qos, b)
}
