package clips

import (
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
// its clip here before done is called, so before the gateway's PUBACK.
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
	in.Next.Submit(gw, rest, payload, func(r store.Result, err error) {
		if err == nil && rest == wire.TopicEvent && r.Event.Kind == wire.KindClip {
			if info, derr := ClipOfEvent(gw, payload); derr != nil {
				in.Clips.log.Warn("clip event not usable; its clip cannot be stored", "gateway", gw, "seq", r.Event.Seq, "error", derr)
			} else if aerr := in.Clips.Announce(info); aerr != nil {
				if !isRefused(aerr) {
					err = aerr // not durable: the gateway sends the event again
				} else {
					in.Clips.log.Warn("clip event refused by the clip store", "gateway", gw, "seq", r.Event.Seq, "error", aerr)
				}
			}
		}
		done(r, err)
	})
}

func isRefused(err error) bool { return err != nil && errors.Is(err, ErrRefused) }

// ClipOfEvent reads the clip a KindClip event (its JSON) announces.
func ClipOfEvent(gw string, payload []byte) (Info, error) {
	var ev wire.Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return Info{}, fmt.Errorf("clip event: %w", err)
	}
	if ev.Kind != wire.KindClip {
		return Info{}, fmt.Errorf("event kind %q is not %q", ev.Kind, wire.KindClip)
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
