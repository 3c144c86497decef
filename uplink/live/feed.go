package live

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/antt-gateway/antt/device/camera"
)

// feed is one camera's side of live view: the single hub consumer that all
// of the camera's viewers share. It packetises each frame once, keeps the
// packetised GOP (from the last key frame) for viewers that start or ask
// for a picture, and hands every unit to every viewer's queue without ever
// waiting for one.
type feed struct {
	name     string
	hub      *camera.Hub
	c        *camera.Consumer
	maxCache int
	done     chan struct{} // closed when run returns
	ready    chan struct{} // closed at the first key frame (or first frame of a camera without video)

	mu       sync.Mutex
	viewers  []*viewer
	cache    []*unit // from the last video key frame, in arrival order
	cacheB   int
	cacheOK  bool
	next     uint64 // the next unit's number
	tracks   []camera.Track
	refs     int // sessions holding the feed (guarded by Manager.mu, not mu)
	isReady  bool
	ended    bool // run has returned: a viewer joining now is told at once
	overflow atomic.Uint64
}

// startFeed subscribes to the hub. The hub puts its cached GOP into the new
// consumer's queue before Subscribe returns; those frames are taken into
// the feed's cache here, as history rather than live frames, so the first
// viewer fast-forwards through them like any later one.
func startFeed(hub *camera.Hub, maxCache int) (*feed, error) {
	c, err := hub.Subscribe()
	if err != nil {
		return nil, fmt.Errorf("live: camera %s: %w", hub.Name(), err)
	}
	f := &feed{name: hub.Name(), hub: hub, c: c, maxCache: maxCache, done: make(chan struct{}), ready: make(chan struct{})}
	f.tracks = hub.Tracks()
	for range len(c.Frames()) {
		hf, ok := <-c.Frames()
		if !ok {
			break
		}
		f.add(hf)
	}
	return f, nil
}

// run moves live frames to the viewers until the consumer's channel closes
// (stop, or the hub ended).
func (f *feed) run() {
	defer close(f.done)
	for hf := range f.c.Frames() {
		u := f.add(hf)
		f.fanOut(u)
	}
	f.mu.Lock()
	vs := f.viewers
	f.viewers, f.ended = nil, true
	f.mu.Unlock()
	for _, v := range vs {
		v.feedGone()
	}
}

// stop detaches from the hub (which lingers before closing the camera
// session) and waits for run to end.
func (f *feed) stop() {
	f.c.Close()
	<-f.done
}

// add packetises hf and updates the cache; it returns the unit.
func (f *feed) add(hf *camera.HubFrame) *unit {
	f.mu.Lock()
	defer f.mu.Unlock()
	var sps, pps []byte
	if hf.Key {
		f.tracks = f.hub.Tracks()
	}
	for _, t := range f.tracks {
		if t.Kind == camera.Video {
			sps, pps = t.SPS, t.PPS
		}
	}
	u := newUnit(f.next, hf, sps, pps)
	f.next++
	hasVideo := false
	for _, t := range f.tracks {
		if t.Kind == camera.Video {
			hasVideo = true
		}
	}
	switch {
	case u.kind == camera.Video && u.key:
		clear(f.cache)
		f.cache = append(f.cache[:0], u)
		f.cacheB, f.cacheOK = u.size, u.size <= f.maxCache
		if !f.cacheOK {
			f.dropCache()
		}
	case f.cacheOK && len(f.cache) > 0 && f.cache[0].epoch != u.epoch:
		f.dropCache() // a new camera session starts on its own key frame
	case f.cacheOK:
		if f.cacheB+u.size > f.maxCache {
			f.dropCache()
		} else {
			f.cache = append(f.cache, u)
			f.cacheB += u.size
		}
	}
	if !f.isReady && ((u.kind == camera.Video && u.key) || !hasVideo) {
		f.isReady = true
		close(f.ready)
	}
	return u
}

func (f *feed) dropCache() {
	f.overflow.Add(1)
	clear(f.cache)
	f.cache = f.cache[:0]
	f.cacheB, f.cacheOK = 0, false
}

// fanOut offers u to every viewer; a full queue makes that viewer skip to
// the next key frame.
func (f *feed) fanOut(u *unit) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range f.viewers {
		v.offer(u)
	}
}

// snapshot returns the cached GOP (nil when there is none usable).
func (f *feed) snapshot() []*unit {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.cacheOK {
		return nil
	}
	return slices.Clone(f.cache)
}

// join adds v and returns the cached GOP at that instant: every later unit
// goes to v's queue, so nothing falls between the two.
func (f *feed) join(v *viewer) []*unit {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended {
		v.feedGone()
		return nil
	}
	f.viewers = append(f.viewers, v)
	if !f.cacheOK {
		return nil
	}
	return slices.Clone(f.cache)
}

// leave removes v.
func (f *feed) leave(v *viewer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := slices.Index(f.viewers, v); i >= 0 {
		f.viewers = slices.Delete(f.viewers, i, i+1)
	}
}

// waitReady waits for the first key frame, so that the camera's codecs and
// parameter sets are known before an offer is answered.
func (f *feed) waitReady(ctx context.Context) ([]camera.Track, error) {
	select {
	case <-f.ready:
	case <-f.done:
		return nil, fmt.Errorf("camera %s: stopped", f.name)
	case <-ctx.Done():
		st := f.hub.Status()
		msg := fmt.Sprintf("camera %s sent no picture in time (state %s", f.name, st.State)
		if st.LastError != "" {
			msg += ", last error: " + st.LastError
		}
		return nil, fmt.Errorf("%w: %s)", ErrCameraNotReady, msg)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.tracks), nil
}
