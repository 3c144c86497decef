package clipupload

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// A range request's skip leaves those clips out: the reply lists only the
// others and counts the skipped, and only the others' chunks are sent.
// Skipping every clip of the range sends nothing at all.
func TestRangeSkip(t *testing.T) {
	src := newMemSource()
	day := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i := range 3 {
		src.add(fmt.Sprintf("seg-%d", i), "cong", day.Add(time.Duration(i)*time.Minute), 3*wire.ClipChunkMax/2)
	}
	pub := &recorder{}
	u, err := New(src, pub, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer run(t, u)()
	ask := func(skip ...string) Reply {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"camera": "cong", "from": day.Format(time.RFC3339), "to": day.Add(5 * time.Minute).Format(time.RFC3339), "skip": skip})
		res, err := u.Handler(context.Background(), b)
		if err != nil {
			t.Fatalf("clip.get %s: %v", b, err)
		}
		return res.(Reply)
	}
	r := ask("seg-0", "seg-2", "not-in-range")
	if len(r.Clips) != 1 || r.Clips[0].ID != "seg-1" || r.Skipped != 2 {
		t.Fatalf("reply %+v, want seg-1 alone and 2 skipped", r)
	}
	devtest.WaitFor(t, 10*time.Second, "seg-1 sent", func() bool { return len(pub.bytesOf("seg-1")) == 3*wire.ClipChunkMax/2 && u.Stats().Pending == 0 })
	for _, topic := range pub.sent() {
		if !strings.HasPrefix(topic, "clip/seg-1/") {
			t.Fatalf("chunk %s sent, a clip the request skipped", topic)
		}
	}
	sent := len(pub.sent())
	r = ask("seg-0", "seg-1", "seg-2")
	if len(r.Clips) != 0 || r.Clips == nil || r.Skipped != 3 {
		t.Fatalf("reply %+v, want no clip and 3 skipped", r)
	}
	if b, _ := json.Marshal(r); string(b) != `{"clips":[],"skipped":3}` {
		t.Fatalf("reply on the wire %s", b)
	}
	// Ask for a clip by id after: once it is sent, anything the skipped
	// request had queued would have gone before it.
	if _, err := u.Handler(context.Background(), json.RawMessage(`{"clip":"seg-1"}`)); err != nil {
		t.Fatal(err)
	}
	devtest.WaitFor(t, 10*time.Second, "seg-1 sent again", func() bool { return len(pub.sent()) == 2*sent && u.Stats().Pending == 0 })
	for _, topic := range pub.sent()[sent:] {
		if !strings.HasPrefix(topic, "clip/seg-1/") {
			t.Fatalf("chunk %s sent after a request that skipped every clip", topic)
		}
	}
}

// A skip list too long, with a bad id, or beside "clip" is refused,
// naming what is wrong.
func TestRangeSkipErrors(t *testing.T) {
	u, err := New(newMemSource(), &recorder{}, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	many := make([]string, wire.ClipGetMaxSkip+1)
	for i := range many {
		many[i] = fmt.Sprintf("s-%d", i)
	}
	long, _ := json.Marshal(map[string]any{"camera": "c", "from": "2026-12-01T00:00:00Z", "to": "2026-12-01T01:00:00Z", "skip": many})
	for args, want := range map[string]string{
		string(long): `"skip": 1001 clip ids, more than 1000`,
		`{"camera":"c","from":"2026-12-01T00:00:00Z","to":"2026-12-01T01:00:00Z","skip":["ok","../x"]}`: `"skip": item 1, "../x", is not a clip id`,
		`{"camera":"c","from":"2026-12-01T00:00:00Z","to":"2026-12-01T01:00:00Z","skip":"a"}`:           `argument "skip"`,
		`{"clip":"a","skip":["a"]}`: `"skip" goes only with "camera"`,
	} {
		if _, err := u.Handler(context.Background(), json.RawMessage(args)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.80s: %v, want %q", args, err, want)
		}
	}
	// Exactly the bound is accepted.
	ok, _ := json.Marshal(map[string]any{"camera": "c", "from": "2026-12-01T00:00:00Z", "to": "2026-12-01T01:00:00Z", "skip": many[:wire.ClipGetMaxSkip]})
	if _, err := u.Handler(context.Background(), ok); err != nil {
		t.Errorf("%d ids: %v", wire.ClipGetMaxSkip, err)
	}
}
