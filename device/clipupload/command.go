package clipupload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/wire"
)

// MaxRangeClips bounds the clips one {camera, from, to} request may
// queue: a range of a day of one-minute segments is 1440.
const MaxRangeClips = 2000

// Get is a decoded clip.get request: one clip from Offset, or the clips
// of Camera over [From, To] but those in Skip (the station holds them).
type Get struct {
	Clip   string
	Offset int64
	Camera string
	From   time.Time
	To     time.Time
	Skip   map[string]bool
}

// DecodeGet reads clip.get's arguments strictly: {"clip":ID,"offset":N}
// or {"camera":C,"from":T,"to":T,"skip":[ID]} (RFC 3339; skip optional,
// at most wire.ClipGetMaxSkip ids), never both.
func DecodeGet(args json.RawMessage) (Get, error) {
	var a struct {
		Clip   *string   `json:"clip"`
		Offset *int64    `json:"offset"`
		Camera *string   `json:"camera"`
		From   *string   `json:"from"`
		To     *string   `json:"to"`
		Skip   *[]string `json:"skip"`
	}
	if err := uplink.DecodeArgs(args, &a); err != nil {
		return Get{}, err
	}
	var g Get
	switch {
	case a.Clip != nil:
		if a.Camera != nil || a.From != nil || a.To != nil {
			return g, errors.New(`give "clip" (and "offset") or "camera", "from" and "to", not both`)
		}
		if a.Skip != nil {
			return g, errors.New(`argument "skip" goes only with "camera", "from" and "to"`)
		}
		if !wire.ValidClipID(*a.Clip) {
			return g, fmt.Errorf(`argument "clip": %.90q is not a clip id`, *a.Clip)
		}
		g.Clip = *a.Clip
		if a.Offset != nil {
			if *a.Offset < 0 {
				return g, fmt.Errorf(`argument "offset": %d is negative`, *a.Offset)
			}
			g.Offset = *a.Offset
		}
		return g, nil
	case a.Camera != nil:
		if a.Offset != nil {
			return g, errors.New(`argument "offset" goes only with "clip"`)
		}
		if *a.Camera == "" {
			return g, errors.New(`argument "camera" is empty`)
		}
		if a.From == nil || a.To == nil {
			return g, errors.New(`"camera" needs "from" and "to" (RFC 3339 times)`)
		}
		g.Camera = *a.Camera
		var err error
		if g.From, err = time.Parse(time.RFC3339, *a.From); err != nil {
			return g, fmt.Errorf(`argument "from": %.60q is not an RFC 3339 time`, *a.From)
		}
		if g.To, err = time.Parse(time.RFC3339, *a.To); err != nil {
			return g, fmt.Errorf(`argument "to": %.60q is not an RFC 3339 time`, *a.To)
		}
		if g.To.Before(g.From) {
			return g, errors.New(`"to" is before "from"`)
		}
		if a.Skip != nil {
			if err := wire.CheckClipSkip(*a.Skip); err != nil {
				return g, err
			}
			g.Skip = make(map[string]bool, len(*a.Skip))
			for _, id := range *a.Skip {
				g.Skip[id] = true
			}
		}
		return g, nil
	default:
		return g, errors.New(`missing "clip" or "camera"`)
	}
}

// Reply is clip.get's answer: the clips that will be sent, and how many
// of the range were left out because the request's skip named them.
type Reply struct {
	Clips   []wire.ClipInfo `json:"clips"`
	Skipped int             `json:"skipped"`
}

// Handler is the clip.get command (register it as wire.CmdClipGet): it
// queues the clips asked for and answers with them; they are sent even
// beyond the daily budget (see the package comment).
func (u *Uploader) Handler(_ context.Context, args json.RawMessage) (any, error) {
	g, err := DecodeGet(args)
	if err != nil {
		return nil, err
	}
	var (
		infos   []wire.ClipInfo
		skipped int
	)
	if g.Clip != "" {
		info, err := u.src.Info(g.Clip)
		if err != nil {
			return nil, fmt.Errorf("clip %s: %w", g.Clip, err)
		}
		if g.Offset > info.Bytes {
			return nil, fmt.Errorf(`argument "offset": %d is beyond the clip's %d bytes`, g.Offset, info.Bytes)
		}
		infos = []wire.ClipInfo{info}
	} else {
		if infos, err = u.src.List(g.Camera, g.From, g.To); err != nil {
			return nil, fmt.Errorf("clips of camera %s: %w", g.Camera, err)
		}
		if len(g.Skip) > 0 {
			kept := infos[:0]
			for _, info := range infos {
				if g.Skip[info.ID] {
					skipped++
					continue
				}
				kept = append(kept, info)
			}
			infos = kept
		}
		if len(infos) > MaxRangeClips {
			return nil, fmt.Errorf("%d clips in that range, more than %d: ask for a shorter one", len(infos), MaxRangeClips)
		}
	}
	for _, info := range infos {
		if err := u.enqueue(info, g.Offset, false, 0); err != nil {
			return nil, err
		}
	}
	if infos == nil {
		infos = []wire.ClipInfo{}
	}
	return Reply{Clips: infos, Skipped: skipped}, nil
}
