package record

import (
	"io"
	"time"

	"github.com/antt-gateway/antt/uplink/wire"
)

// WireSource is the store as the clip uploader (device/clipupload) reads
// it: complete clips in their wire form.
type WireSource struct{ S *Store }

// Info describes a clip as wire.ClipInfo.
func (w WireSource) Info(id string) (wire.ClipInfo, error) {
	in, err := w.S.Info(id)
	if err != nil {
		return wire.ClipInfo{}, err
	}
	if !in.Complete {
		return wire.ClipInfo{}, ErrIncomplete
	}
	return in.ClipInfo(), nil
}

// List lists a camera's complete clips over [from, to] as wire.ClipInfo.
func (w WireSource) List(camera string, from, to time.Time) ([]wire.ClipInfo, error) {
	l, err := w.S.List(camera, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]wire.ClipInfo, len(l))
	for i, in := range l {
		out[i] = in.ClipInfo()
	}
	return out, nil
}

// Open reads a complete clip from its start.
func (w WireSource) Open(id string) (io.ReadCloser, error) {
	r, _, err := w.S.Open(id)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(r, 0, r.Size()), r}, nil
}

// OpenAt reads a complete clip at any offset.
func (w WireSource) OpenAt(id string) (io.ReaderAt, io.Closer, error) {
	r, _, err := w.S.Open(id)
	if err != nil {
		return nil, nil, err
	}
	return r, r, nil
}

// MarkUploaded records that the clip is wholly at the station (Store.
// MarkUploaded): the uploader calls it once the last chunk is
// acknowledged, so that evidence off-site is no longer kept first.
func (w WireSource) MarkUploaded(id string) error { return w.S.MarkUploaded(id) }
