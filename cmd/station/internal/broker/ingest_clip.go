package broker

import (
	"github.com/antt-gateway/antt/cmd/station/internal/clips"
	"github.com/antt-gateway/antt/cmd/station/internal/store"
)

// ClipStoreIngester is StoreIngester that also claims the gateways' clip
// chunks ({prefix}/{gateway}/clip/{clip}/{offset}): s, a clips.Ingest in
// front of the station's store, writes each chunk at its offset and
// fsyncs it before the broker sends the PUBACK, so the gateway resumes
// from the last acknowledged chunk after a link cut. A chunk the clip
// store refuses (unknown clip, beyond the announced length, different
// bytes where bytes are held) is store.ErrInvalid, so it is acknowledged,
// logged and dropped rather than resent for ever.
func ClipStoreIngester(s Submitter) Ingester { return clipIngester{storeIngester{s}} }

type clipIngester struct{ storeIngester }

func (clipIngester) Claims(rest string) bool { return store.Claims(rest) || clips.Claims(rest) }
