package device_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device"
	"github.com/antt-gateway/antt/device/camera/record"
	"github.com/antt-gateway/antt/device/camera/rtsp/rtsptest"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// The outbox and the recordings share one small data partition (a real
// tmpfs), almost full already (another program's file), with the default
// recording.max_bytes (2 GiB, more than the partition): a camera recording
// continuously fills what it may, removes the evidence it holds (reported
// by a clip_lost event) and then has its clip cut short and new ones
// refused (counted as recording.full), while the outbox keeps its room:
// the room to grow to outbox.max_bytes plus its reserve and headroom
// stays free all along, and the sensor's events go on being stored and
// delivered to the broker in order.
func TestRecordingLeavesOutboxItsRoom(t *testing.T) {
	t.Parallel()
	const (
		outboxMax = 8 << 20
		headroom  = 8 << 20  // the outbox's reserve file and headroom (device/record.go)
		margin    = 16 << 20 // the clip store's margin (device/record.go)
		spare     = 2 << 20  // what recording may still take at the start
	)
	data := devtest.MountTmpfs(t, 64<<20)
	cam := rtsptest.StartCamera(t, "--width", "640", "--height", "360", "--fps", "25", "--key-int-max", "25",
		"--bitrate", "4000", "--pattern", "snow")
	broker := mqtttest.Start(t, mqtttest.Options{})
	const id = "cong-day"
	evs := subscribeEvents(t, broker, id)
	// Evidence on the card from before, not uploaded (the daily budget
	// holds it): the last thing the store may remove for room.
	pre, err := record.OpenStore(record.StoreOptions{Dir: filepath.Join(data, "recordings"), MaxBytes: 64 << 20, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := pre.Create(record.CreateOptions{Camera: "cam-cong", Start: time.Now().Add(-time.Hour), Reason: record.ReasonAlarm, Upload: record.UploadAuto})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(1, time.Second); err != nil {
		t.Fatal(err)
	}
	evidence, err := c.Finish(1, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	pre.Close()

	gw := openConfig(t, fmt.Sprintf(`gateway: {id: %s, data_dir: %s}
uplink: {broker: "mqtt://%s", telemetry_interval: 1h}
outbox: {max_bytes: 8MiB}
sensors:
  - {name: cong-pir, kind: motion, driver: sim, every: 300ms}
cameras:
  - {name: cam-cong, url: %q, record: continuous}
recording: {upload_budget: 1KiB}
`, id, data, broker.Addr(), cam.URL))
	// outboxRoom is the free space beyond what the outbox may still grow
	// into: the clip store must leave its reserve, headroom and margin.
	outboxRoom := func() int64 {
		var fs syscall.Statfs_t
		if err := syscall.Statfs(data, &fs); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(data, device.OutboxFile))
		if err != nil {
			t.Fatal(err)
		}
		held := fi.Sys().(*syscall.Stat_t).Blocks * 512
		return int64(fs.Bavail)*int64(fs.Bsize) - max(0, outboxMax-held)
	}
	// Another program's file takes the partition up to spare bytes above
	// the outbox's need.
	if room := outboxRoom(); room > headroom+margin+spare {
		if err := os.WriteFile(filepath.Join(data, "other.bin"), make([]byte, room-headroom-margin-spare), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := runGateway(t, gw)

	least := outboxRoom()
	var fullAt uint64 // the last seq delivered when the store was first full
	devtest.WaitFor(t, 90*time.Second, "the evidence lost, recording refused for room, and 5 more events delivered", func() bool {
		least = min(least, outboxRoom())
		st := gw.Status().Recording
		last := evs.lastSeq()
		if st != nil && st.Full > 0 && fullAt == 0 {
			fullAt = max(last, 1)
		}
		_, lost := evs.findClip(record.KindClipLost, evidence.ID)
		return lost && fullAt != 0 && last >= fullAt+5
	})
	least = min(least, outboxRoom())
	st := gw.Status().Recording
	t.Logf("recording %+v; least free beyond the outbox's growth %.1f MiB", *st, float64(least)/(1<<20))
	if least < headroom+margin/2 {
		t.Fatalf("the recordings took the outbox's room: %d bytes free beyond what the outbox may grow into, want at least %d",
			least, headroom+margin/2)
	}
	if st.EvidenceLost != 1 || st.Evicted < 1 {
		t.Fatalf("recording status %+v: want the evidence lost, and counted", *st)
	}
	if gaps := evs.gaps(); gaps != "" {
		t.Fatalf("events delivered with gaps: %s", gaps)
	}
	// The outbox stored every event: none was dropped for room.
	if e, ok := evs.find(wire.KindOutboxOverflow); ok {
		t.Fatalf("the outbox overflowed: %+v", e)
	}
	if len(outboxDump(t, base)) > 50 {
		t.Fatal("events pile up in the outbox: the uplink stopped delivering")
	}
}

// lastSeq is the highest seq received.
func (e *events) lastSeq() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var n uint64
	for _, ev := range e.got {
		n = max(n, ev.Seq)
	}
	return n
}

// findClip finds the event of kind about clip id.
func (e *events) findClip(kind, id string) (wire.Event, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.got {
		if ev.Kind == kind && ev.Attrs[wire.ClipAttrID] == id {
			return ev, true
		}
	}
	return wire.Event{}, false
}

// gaps names the seqs missing below the highest received ("" if none).
func (e *events) gaps() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	seen := map[uint64]bool{}
	var n uint64
	for _, ev := range e.got {
		seen[ev.Seq] = true
		n = max(n, ev.Seq)
	}
	var out string
	for q := uint64(1); q <= n; q++ {
		if !seen[q] {
			out += fmt.Sprintf(" %d", q)
		}
	}
	return out
}
