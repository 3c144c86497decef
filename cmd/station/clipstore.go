package main

import (
	"flag"
	"log/slog"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/clips"
	"github.com/antt-gateway/antt/cmd/station/internal/console"
	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/cmd/station/internal/web"
)

// clipFlags are the clip store's flags (-clip-max-bytes, -clip-max-age).
type clipFlags struct {
	maxBytes byteSize
	maxAge   *time.Duration
}

func registerClipFlags(fs *flag.FlagSet) *clipFlags {
	c := &clipFlags{maxBytes: clips.DefaultMaxBytes}
	fs.Var(&c.maxBytes, "clip-max-bytes", "keep at most this many bytes of uploaded clips, oldest deleted first, alarm evidence last, none still uploading (e.g. 64GiB)")
	c.maxAge = fs.Duration("clip-max-age", clips.DefaultMaxAge, "delete uploaded clips older than this")
	return c
}

// open opens the clip store in dataDir/clips.
func (c *clipFlags) open(dataDir string, logger *slog.Logger) (*clips.Store, error) {
	return clips.Open(dataDir, clips.Options{MaxBytes: int64(c.maxBytes), MaxAge: *c.maxAge,
		Logger: logger.With("component", "clips")})
}

// clipConsoleStore is the station's store as the external broker's
// subscriber sees it, with the clip store in front of its Submit: clip
// chunks and clip events go through clips.Ingest.
type clipConsoleStore struct {
	*store.Store
	in clips.Ingest
}

var _ console.Store = clipConsoleStore{}

func (s clipConsoleStore) Submit(gw, rest string, payload []byte, done func(store.Result, error)) {
	s.in.Submit(gw, rest, payload, done)
}

// webClips gives the console the clip store and the export key
// (DATA/export-key.pem, made on first start).
func webClips(dataDir string, cs *clips.Store) (*web.Clips, error) {
	key, err := clips.LoadOrCreateKey(dataDir)
	if err != nil {
		return nil, err
	}
	return &web.Clips{Store: cs, Key: key}, nil
}
