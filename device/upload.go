package device

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/antt-gateway/antt/device/camera/record"
	"github.com/antt-gateway/antt/device/clipupload"
	"github.com/antt-gateway/antt/uplink/wire"
)

// clipSource is the clip store as the uploader reads it: complete clips
// only, in their wire form.
type clipSource struct{ st *record.Store }

func (c clipSource) Info(id string) (wire.ClipInfo, error) {
	in, err := c.st.Info(id)
	if err != nil {
		return wire.ClipInfo{}, err
	}
	if !in.Complete {
		return wire.ClipInfo{}, fmt.Errorf("clip %s is still being recorded", id)
	}
	return in.ClipInfo(), nil
}

func (c clipSource) List(camera string, from, to time.Time) ([]wire.ClipInfo, error) {
	l, err := c.st.List(camera, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]wire.ClipInfo, 0, len(l))
	for _, in := range l {
		if in.Complete {
			out = append(out, in.ClipInfo())
		}
	}
	return out, nil
}

func (c clipSource) Open(id string) (io.ReadCloser, error) {
	return nil, fmt.Errorf("clip %s: read it with OpenAt", id)
}

// MarkUploaded tells the store the clip left the site (clipupload.UploadMarker).
func (c clipSource) MarkUploaded(id string) error { return c.st.MarkUploaded(id) }

func (c clipSource) OpenAt(id string) (io.ReaderAt, io.Closer, error) {
	r, _, err := c.st.Open(id)
	if err != nil {
		return nil, nil, err
	}
	return r, r, nil
}

// openUpload makes the clip uploader when a camera records and registers
// clip.get. g.session must exist.
func (g *Gateway) openUpload() error {
	st := g.Clips()
	if st == nil {
		return nil
	}
	u, err := clipupload.New(clipSource{st}, g.session, clipupload.Options{
		Dir:      g.cfg.Gateway.DataDir,
		Budget:   g.cfg.Recording.UploadBudget,
		Location: g.cfg.Gateway.Location,
		Logger:   g.log.With("part", "clipupload"),
		Delivered: func(seq uint64) bool {
			recs, err := g.outbox.Peek(seq-1, 1)
			return err == nil && (len(recs) == 0 || recs[0].Seq != seq)
		},
	})
	if err != nil {
		return fmt.Errorf("clip uploader: %w", err)
	}
	g.upload = u
	g.router.Handle(wire.CmdClipGet, u.Handler)
	return nil
}

// runUpload runs the uploader until ctx ends; wait waits for it.
func (g *Gateway) runUpload(ctx context.Context) (wait func()) {
	if g.upload == nil {
		return func() {}
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = g.upload.Run(ctx) })
	return wg.Wait
}

// uploadStored queues the automatic upload of each stored clip event
// whose upload attr is "auto"; it starts once the event has reached the
// station (the station refuses chunks of a clip it was not told of).
func (g *Gateway) uploadStored(evs []*wire.Event) {
	if g.upload == nil {
		return
	}
	for _, ev := range evs {
		if ev.Kind != wire.KindClip || ev.Attrs[wire.ClipAttrUpload] != record.UploadAuto {
			continue
		}
		id, _ := ev.Attrs[wire.ClipAttrID].(string)
		if err := g.upload.Auto(id, ev.Seq); err != nil {
			g.log.Error("automatic clip upload not queued", "clip", id, "error", err)
		}
	}
}

// uploadStats is the uploader's part of telemetry (nil without it).
func (g *Gateway) uploadStats() *clipupload.Stats {
	if g.upload == nil {
		return nil
	}
	s := g.upload.Stats()
	return &s
}
