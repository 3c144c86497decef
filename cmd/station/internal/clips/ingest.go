package clips

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// Submitter is the write side of the station's store (store.Store).
type Submitter interface {
	Submit(gw, rest string, payload []byte, done func(store.Result, error))
}

// Claims reports whether rest (the topic below {prefix}/{gateway}/) is a
// clip chunk.
func Claims(rest string) bool { return strings.HasPrefix(rest, wire.TopicClip+"/") }

// Ingest puts the clip store in front of the station's store on the path
// of what gateways publish (the embedded broker's ingest hook, or the
// external broker's subscriber): clip chunks are stored here, everything
// else goes to next; a clip event, once next has committed it, announces
// its clip here before the event is handed to next, so before the
// gateway's PUBACK and before any of its chunks arrives.
type Ingest struct {
	Next  Submitter
	Clips *Store
}

// Submit implements the store's Submit for both paths. Refused chunks
// give an error wrapping store.ErrInvalid: they are acknowledged, logged
// and dropped.
func (in Ingest) Submit(gw, rest string, payload []byte, done func(store.Result, error)) {
	if Claims(rest) {
		clip, off, err := wire.ParseClipChunk(rest)
		if err == nil {
			_, err = in.Clips.Put(gw, clip, off, payload)
		} else {
			err = fmt.Errorf("%w: %w", ErrRefused, err)
		}
		if err != nil && isRefused(err) {
			err = fmt.Errorf("%w: %w", store.ErrInvalid, err)
		}
		done(store.Result{}, err)
		return
	}
	// A clip event announces its clip before the event goes to the store,
	// on the publisher's own path: its chunks, published after it, come
	// through here after this returns (the embedded broker's read loop,
	// the external broker's ordered delivery), while the store commits
	// the event later. Announcing twice is a no-op, so an event sent
	// again after a failed commit does no harm.
	if rest == wire.TopicEvent && bytes.Contains(payload, clipKind) {
		if info, err := ClipOfEvent(gw, payload); err == nil {
			if aerr := in.Clips.Announce(info); aerr != nil {
				if !isRefused(aerr) {
					done(store.Result{}, aerr) // not durable: the gateway sends the event again
					return
				}
				in.Clips.log.Warn("clip event refused by the clip store", "gateway", gw, "clip", info.ID, "error", aerr)
			}
		} else if !errors.Is(err, errNotClip) {
			in.Clips.log.Warn("clip event not usable; its clip cannot be stored", "gateway", gw, "error", err)
		}
	}
	in.Next.Submit(gw, rest, payload, done)
}

// clipKind is in every event that may be a clip event (a cheap test before
// decoding; ClipOfEvent decides).
var clipKind = []byte(`"` + wire.KindClip + `"`)

// errNotClip: the event is of another kind.
var errNotClip = errors.New("not a clip event")

func isRefused(err error) bool { return err != nil && errors.Is(err, ErrRefused) }

// ClipOfEvent reads the clip a KindClip event (its JSON) announces.
func ClipOfEvent(gw string, payload []byte) (Info, error) {
	var ev wire.Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return Info{}, fmt.Errorf("clip event: %w", err)
	}
	if ev.Kind != wire.KindClip {
		return Info{}, fmt.Errorf("event kind %q: %w", ev.Kind, errNotClip)
	}
	in := Info{Gateway: gw, Camera: ev.Source, Epoch: ev.Epoch, Seq: ev.Seq}
	var ok bool
	if in.ID, ok = ev.Attrs[wire.ClipAttrID].(string); !ok || !wire.ValidClipID(in.ID) {
		return in, fmt.Errorf("clip event %d: attr %q %.90v is not a clip id", ev.Seq, wire.ClipAttrID, ev.Attrs[wire.ClipAttrID])
	}
	n, err := intAttr(ev.Attrs, wire.ClipAttrBytes)
	if err != nil || n <= 0 {
		return in, fmt.Errorf("clip event %d: attr %q: want a positive length", ev.Seq, wire.ClipAttrBytes)
	}
	in.Bytes = n
	if in.SHA256, ok = ev.Attrs[wire.ClipAttrSHA256].(string); !ok {
		return in, fmt.Errorf("clip event %d: attr %q missing", ev.Seq, wire.ClipAttrSHA256)
	}
	in.SHA256 = strings.ToLower(in.SHA256)
	in.Duration, _ = intAttr(ev.Attrs, wire.ClipAttrDuration)
	in.Start, _ = ev.Attrs[wire.ClipAttrStart].(string)
	in.Upload, _ = ev.Attrs[wire.ClipAttrUpload].(string)
	return in, nil
}

func intAttr(a map[string]any, k string) (int64, error) {
	switch v := a[k].(type) {
	case float64:
		if v != float64(int64(v)) {
			return 0, fmt.Errorf("attr %q: %v is not a whole number", k, v)
		}
		return int64(v), nil
	case string:
		return strconv.ParseInt(v, 10, 64)
	case nil:
		return 0, fmt.Errorf("attr %q missing", k)
	default:
		return 0, fmt.Errorf("attr %q: %T is not a number", k, v)
	}
}
