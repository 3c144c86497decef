package outbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/antt-gateway/antt/uplink/wire"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Reader is an outbox file opened for inspection only, for the gateway's
// "outbox stats" and "outbox dump" subcommands. It never writes: no
// verification repairs, no damage handling, no compaction.
type Reader struct {
	path string
	db   *bolt.DB
}

// ReadOnly opens the outbox at path without modifying it. It fails with
// ErrLocked after one second while a gateway has the file open, and with a
// descriptive error for a missing or damaged file.
func ReadOnly(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open outbox %s read-only: %w", path, err)
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkFile(f, fi.Size())
	}
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("open outbox %s read-only: %w", path, err)
	}
	db, err := openRecover(path, &bolt.Options{ReadOnly: true, Timeout: lockTimeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			err = ErrLocked
		}
		return nil, fmt.Errorf("open outbox %s read-only: %w", path, err)
	}
	return &Reader{path: path, db: db}, nil
}

// Records calls fn for each record with Seq > after, in seq order, until fn
// returns an error (which Records returns). Data and Attachment are only
// valid during fn.
func (r *Reader) Records(after uint64, fn func(Record) error) error {
	err := r.db.View(func(tx *bolt.Tx) (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("damaged file: %v", p)
			}
		}()
		b := tx.Bucket(bucketRecords)
		if b == nil {
			return fmt.Errorf("records bucket missing")
		}
		att := tx.Bucket(bucketAttach) // nil in a file from before attachments
		c := b.Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil; k, v = c.Next() {
			seq, ok := u64(k)
			if !ok {
				return fmt.Errorf("bad record key %x", k)
			}
			rec := Record{Seq: seq, Data: v}
			if att != nil {
				rec.Attachment = att.Get(k)
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read outbox %s: %w", r.path, err)
	}
	return nil
}

// Stats computes the queue statistics by walking the file; OldestS is
// measured against now.
func (r *Reader) Stats(now time.Time) (wire.OutboxStats, error) {
	var s wire.OutboxStats
	err := r.db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if m == nil {
			return fmt.Errorf("meta bucket missing")
		}
		s.NextSeq, _ = u64(m.Get(keyNextSeq))
		s.Dropped, _ = u64(m.Get(keyDropped))
		if e := m.Get(keyEpoch); wire.ValidEpoch(string(e)) {
			s.Epoch = string(e)
		}
		return nil
	})
	if err != nil {
		return s, fmt.Errorf("read outbox %s: %w", r.path, err)
	}
	err = r.Records(0, func(rec Record) error {
		if s.Depth == 0 {
			if t := eventTime(rec.Data); !t.IsZero() {
				s.OldestS = max(0, now.Sub(t).Seconds())
			}
		}
		s.Depth++
		s.Bytes += int64(len(rec.Data) + len(rec.Attachment)) // as Outbox.Stats counts them
		return nil
	})
	if fi, serr := os.Stat(r.path); serr == nil {
		s.FileSize = fi.Size()
	} else if !errors.Is(serr, fs.ErrNotExist) {
		err = errors.Join(err, serr)
	}
	return s, err
}

// Close releases the file.
func (r *Reader) Close() error { return r.db.Close() }
