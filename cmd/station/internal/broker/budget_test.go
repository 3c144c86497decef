package broker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/antt-gateway/antt/device/devtest"
)

// TestInflightBudgetBounds: with the store stuck (every Submit blocks, as
// when the store's queue is full), the packets the clients' read loops
// hold never add up to more than MaxInflightBytes: of 20 clients each
// sending a 256 KiB event, only as many as fit in the 1 MiB budget reach
// the store and the others wait before their packet is read; nothing is
// dropped: once the store moves, every event is stored and acknowledged,
// and the budget is all given back.
func TestInflightBudgetBounds(t *testing.T) {
	const (
		clients = 20
		size    = 256 << 10
		limit   = 1 << 20
	)
	release := make(chan struct{})
	var inSubmit, maxInSubmit, stored atomic.Int64
	ti := &testIngest{handle: func(s submission) {
		n := inSubmit.Add(1)
		for m := maxInSubmit.Load(); n > m && !maxInSubmit.CompareAndSwap(m, n); m = maxInSubmit.Load() {
		}
		<-release // the store's queue is full: Submit blocks the read loop
		inSubmit.Add(-1)
		stored.Add(1)
		s.done(nil)
	}}
	b, addr := startBroker(t, Options{Ingest: ti, Limits: Limits{MaxInflightBytes: limit}})
	bud := b.guard.inflight
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the broker stops, which waits for the store
	rcs := make([]*rawClient, clients)
	for i := range rcs {
		rcs[i] = rawConnect(t, addr, fmt.Sprintf("gw-%d", i))
	}
	payload := strings.Repeat("x", size)
	errs := make(chan error, clients)
	for i, rc := range rcs {
		go func() {
			p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
			p.TopicName, p.Qos, p.MessageID, p.Payload = fmt.Sprintf("antt/gw-%d/event", i), 1, 1, []byte(payload)
			errs <- p.Write(rc.conn) // blocks while the broker does not read it
		}()
	}
	fit := int64(limit / (size + 64)) // 3: a fourth packet would pass the budget
	devtest.WaitFor(t, 10*time.Second, "the store holding what fits, the other readers waiting", func() bool {
		return inSubmit.Load() == fit && bud.waits.Load() == clients-fit
	})
	if got := maxInSubmit.Load(); got != fit {
		t.Fatalf("%d packets reached the stuck store at once, want %d (what fits in %d bytes)", got, fit, limit)
	}
	if p := bud.peak.Load(); p > limit {
		t.Fatalf("%d bytes charged at once, budget %d", p, limit)
	}
	unblock()
	for i := 0; i < clients; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	for i, rc := range rcs {
		if ack, ok := rc.read().(*packets.PubackPacket); !ok || ack.MessageID != 1 {
			t.Fatalf("client %d: got %v, want PUBACK 1", i, ack)
		}
	}
	if got := stored.Load(); got != clients {
		t.Fatalf("stored %d of %d", got, clients)
	}
	if p := bud.peak.Load(); p > limit {
		t.Fatalf("%d bytes charged at once, budget %d", p, limit)
	}
	info := b.Info()
	if info.InflightDropped != 0 || info.MessagesDropped != 0 {
		t.Fatalf("mochi dropped: inflight %d, messages %d", info.InflightDropped, info.MessagesDropped)
	}
	// A packet larger than the whole budget still goes, alone.
	big := strings.Repeat("y", limit+size)
	rcs[0].publish("antt/gw-0/event", 1, 2, big)
	if ack, ok := rcs[0].read().(*packets.PubackPacket); !ok || ack.MessageID != 2 {
		t.Fatalf("packet above the budget: got %v, want PUBACK 2", ack)
	}
	for _, rc := range rcs {
		rc.conn.Close()
	}
	devtest.WaitFor(t, 10*time.Second, "the budget given back", func() bool { return bud.inUse() == 0 })
}

// TestBudgetWaiterGivesUpOnClose: a reader waiting for the budget ends
// when its connection is closed, having charged nothing.
func TestBudgetWaiterGivesUpOnClose(t *testing.T) {
	bud := newBudget(100)
	if !bud.acquire(80, nil) {
		t.Fatal("first charge refused")
	}
	gone := make(chan struct{})
	res := make(chan bool)
	go func() { res <- bud.acquire(30, gone) }()
	devtest.WaitFor(t, 5*time.Second, "the second charge waiting", func() bool { return bud.waits.Load() == 1 })
	close(gone)
	if <-res {
		t.Fatal("charge granted after its connection closed")
	}
	if got := bud.inUse(); got != 80 {
		t.Fatalf("in use %d, want 80", got)
	}
	bud.release(80)
	if got := bud.inUse(); got != 0 {
		t.Fatalf("in use %d after release, want 0", got)
	}
}

// chunkReader hands out its data in reads of the sizes in sizes, in turn.
type chunkReader struct {
	data  []byte
	sizes []byte
	i     int
}

func (c *chunkReader) read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(p)
	if len(c.sizes) > 0 {
		n = min(n, int(c.sizes[c.i%len(c.sizes)])+1)
		c.i++
	}
	n = copy(p, c.data[:min(n, len(c.data))])
	c.data = c.data[n:]
	return n, nil
}

// FuzzFramedReader: the framing reader passes a stream through byte for
// byte, whatever the sizes of the connection's reads and of the reader's,
// never hands on bytes of two packets in one read, and holds a charge only
// for the packet being read (none for the first); a malformed length is
// an error.
func FuzzFramedReader(f *testing.F) {
	f.Add([]byte{0x10, 2, 0, 0, 0x30, 3, 'a', 'b', 'c', 0xc0, 0}, []byte{0, 5}, []byte{3})
	f.Add([]byte{0x10, 0, 0x30, 0x80, 0x01}, []byte{}, []byte{200})
	f.Add([]byte{0x10, 0, 0x30, 0xff, 0xff, 0xff, 0xff, 0x7f}, []byte{1}, []byte{1})
	f.Add(append([]byte{0x10, 0, 0x32, 0x80, 0x02}, make([]byte, 256)...), []byte{7, 100}, []byte{9, 255})
	f.Fuzz(func(t *testing.T, stream, connSizes, readSizes []byte) {
		bud := newBudget(64)
		fr := newFramedReader(bud, 1<<20, nil)
		src := &chunkReader{data: stream, sizes: connSizes}
		// The packets of stream, as far as their headers are whole and
		// well formed: a header cut short by the end of the stream, or
		// malformed, is not handed on (the connection is over).
		var bounds []int
		stop := 0
		for stop < len(stream) {
			total, err := frameOf(stream[stop:])
			if err != nil {
				break
			}
			stop += total
			bounds = append(bounds, min(stop, len(stream)))
		}
		want := stream[:min(stop, len(stream))]
		var out []byte
		buf := make([]byte, 300)
		for k := 0; ; k++ {
			n := len(buf)
			if len(readSizes) > 0 {
				n = int(readSizes[k%len(readSizes)]) + 1
			}
			got, err := fr.read(buf[:n], src.read)
			// No read crosses a packet's end.
			start, end := len(out), len(out)+got
			for _, b := range bounds {
				if start < b && end > b {
					t.Fatalf("read [%d,%d) crosses the packet end at %d", start, end, b)
				}
			}
			out = append(out, buf[:got]...)
			if held := fr.held.Load(); held != 0 && len(bounds) > 0 && start < bounds[0] {
				t.Fatalf("first packet charged %d", held)
			}
			if err != nil {
				break
			}
		}
		fr.end()
		if bud.inUse() != 0 {
			t.Fatalf("budget in use %d after end", bud.inUse())
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("passed %x\nwant   %x", out, want)
		}
	})
}

// frameOf is the size of the packet at the start of b: io.ErrUnexpectedEOF
// when its header is cut short, another error when it is malformed.
func frameOf(b []byte) (int, error) {
	var length int
	for i := 1; i <= 4; i++ {
		if i >= len(b) {
			return 0, io.ErrUnexpectedEOF
		}
		length |= int(b[i]&0x7f) << (7 * (i - 1))
		if b[i]&0x80 == 0 {
			return i + 1 + length, nil
		}
	}
	return 0, errors.New("length longer than four bytes")
}
