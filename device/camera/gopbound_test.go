package camera

import (
	"runtime"
	"testing"
)

// feedTiny delivers a GOP of n frames of size bytes (a key frame first),
// as an H.265 camera does with one frame per RTP packet.
func feedTiny(h *Hub, n, size int) {
	p := make([]byte, size)
	for i := range n {
		h.deliver(copyFrame(&Frame{Codec: H265, Key: i == 0, Payload: p}, 1))
	}
}

// The cache is bounded in frames whatever their size, and a consumer's
// channel never holds more than ConsumerCap.
func TestHubGOPBoundedInFrames(t *testing.T) {
	h := NewHub(HubOptions{Logger: testLogger(t), Name: "t", GOPCacheFrames: 100, QueueFrames: 8})
	h.setTracksLocked((&synthSource{}).Tracks())
	if got := h.ConsumerCap(); got != 108 {
		t.Fatalf("ConsumerCap = %d, want 100 + 8", got)
	}
	feedTiny(h, 100, 10)
	if st := h.Status(); st.GOPFrames != 100 || st.GOPOverflows != 0 {
		t.Fatalf("a GOP of exactly the frame cap: %+v", st)
	}
	c, _ := h.Subscribe()
	if cap(c.Frames()) != 108 || len(c.Frames()) != 100 {
		t.Fatalf("consumer channel cap %d len %d, want 108 / 100", cap(c.Frames()), len(c.Frames()))
	}
	c.Close()

	feedTiny(h, 101, 10)
	if st := h.Status(); st.GOPFrames != 0 || st.GOPOverflows != 1 {
		t.Fatalf("a GOP one frame over the cap must not be cached: %+v", st)
	}
	c, _ = h.Subscribe()
	if cap(c.Frames()) > h.ConsumerCap() || len(c.Frames()) != 0 {
		t.Fatalf("after the overflow: channel cap %d len %d", cap(c.Frames()), len(c.Frames()))
	}
}

// With the defaults, 10,000 one-byte frames in a GOP (a camera sending a
// flood of tiny packets) neither grow the cache nor a late consumer's
// channel past the fixed caps.
func TestHubDefaultCapsHoldTinyFrames(t *testing.T) {
	h := NewHub(HubOptions{Logger: testLogger(t), Name: "t"})
	h.setTracksLocked((&synthSource{}).Tracks())
	maxFrames := 0
	p := make([]byte, 1)
	for i := range 10000 {
		h.deliver(copyFrame(&Frame{Codec: H265, Key: i == 0, Payload: p}, 1))
		maxFrames = max(maxFrames, h.Status().GOPFrames)
	}
	if maxFrames > DefaultGOPCacheFrames {
		t.Errorf("cache reached %d frames, cap %d", maxFrames, DefaultGOPCacheFrames)
	}
	feedTiny(h, DefaultGOPCacheFrames, 1)
	c, _ := h.Subscribe()
	if n := cap(c.Frames()); n > DefaultGOPCacheFrames+DefaultQueueFrames || n != h.ConsumerCap() {
		t.Errorf("consumer channel cap %d, want ConsumerCap %d", n, h.ConsumerCap())
	}
}

// Each frame is charged GOPFrameOverhead: 150 frames of 10 bytes are far
// under a 100-frame budget in payload, but not once the overhead counts.
func TestHubGOPFrameOverheadCharged(t *testing.T) {
	budget := 100 * (10 + GOPFrameOverhead)
	h := NewHub(HubOptions{Logger: testLogger(t), Name: "t", GOPCacheBytes: budget})
	h.setTracksLocked((&synthSource{}).Tracks())
	feedTiny(h, 100, 10)
	if st := h.Status(); st.GOPFrames != 100 || st.GOPBytes != 1000 {
		t.Fatalf("100 frames within the budget: %+v", st)
	}
	feedTiny(h, 150, 10)
	if st := h.Status(); st.GOPFrames != 0 || st.GOPOverflows != 1 {
		t.Fatalf("150 frames (1,500 payload bytes, %d charged) under a %d budget: %+v", 150*(10+GOPFrameOverhead), budget, st)
	}
}

// An empty frame is dropped: not cached, not queued, counted.
func TestHubDropsEmptyFrames(t *testing.T) {
	h := NewHub(HubOptions{Logger: testLogger(t), Name: "t"})
	h.setTracksLocked((&synthSource{}).Tracks())
	c, _ := h.Subscribe()
	feedTiny(h, 1, 100) // a key frame
	for range 5 {
		h.deliver(copyFrame(&Frame{Codec: H265, Payload: []byte{}}, 1))
		h.deliver(copyFrame(&Frame{Codec: H264, NALUs: [][]byte{}}, 1))
	}
	st := h.Status()
	if st.EmptyFrames != 10 || st.GOPFrames != 1 || st.Frames != 1 {
		t.Fatalf("status %+v: want 10 empty frames dropped, only the key frame cached", st)
	}
	if len(c.Frames()) != 1 || c.Delivered() != 1 {
		t.Fatalf("consumer got %d frames, want only the key frame", len(c.Frames()))
	}
}

// BenchmarkGOPCacheTinyFrames reports what a cached H.265-sized packet
// (100 bytes) really costs on the heap against what the byte bound charges
// it (payload + GOPFrameOverhead): heap/charged at or under 1 means the
// bound holds in memory too.
func BenchmarkGOPCacheTinyFrames(b *testing.B) {
	const n, size = 2000, 100
	var heap float64
	for range b.N {
		h := NewHub(HubOptions{Name: "bench"})
		h.setTracksLocked((&synthSource{}).Tracks())
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		feedTiny(h, n, size)
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if st := h.Status(); st.GOPFrames != n {
			b.Fatalf("cached %d frames, want %d", st.GOPFrames, n)
		}
		heap = max(heap, float64(after.HeapAlloc)-float64(before.HeapAlloc))
		runtime.KeepAlive(h)
	}
	b.ReportMetric(heap/n, "heap-bytes/frame")
	b.ReportMetric(size+GOPFrameOverhead, "charged-bytes/frame")
	b.ReportMetric(heap/(n*(size+GOPFrameOverhead)), "heap/charged")
}
