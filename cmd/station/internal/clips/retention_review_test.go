package clips

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// TestRetentionOneGatewayCannotEvictOthers: one gateway (a stolen board's
// credentials, from anywhere that reaches the broker) uploading huge clips
// would make room by deleting every other gateway's evidence. Above the
// bound a gateway's clips must compete with its own first: the one
// holding the most loses its oldest, and another gateway's clips stay.
// (Clips only announced hold no byte and push nothing out: review U1.)
func TestRetentionOneGatewayCannotEvictOthers(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	s, err := Open(t.TempDir(), Options{MaxBytes: 1000, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	school := bytes.Repeat([]byte("evidence"), 25) // 200 bytes
	for _, id := range []string{"e1", "e2"} {
		now = now.Add(time.Minute)
		if err := s.Announce(Info{Gateway: "thcs-chi-dam", ID: id, Bytes: int64(len(school)), SHA256: sha(school), Upload: uploadAuto}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put("thcs-chi-dam", id, 0, school); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		now = now.Add(time.Minute)
		id := "fake" + strings.Repeat("x", i+1)
		fake := bytes.Repeat([]byte{byte(i)}, 900)
		if err := s.Announce(Info{Gateway: "cho-evil", ID: id, Bytes: 900, SHA256: sha(fake), Upload: uploadAuto}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put("cho-evil", id, 0, fake); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"e1", "e2"} {
		if st, ok, _ := s.Status("thcs-chi-dam", id); !ok || st.State != Complete {
			t.Errorf("the school's clip %s was deleted to make room for another gateway's announcements", id)
		}
	}
	if l, _ := s.List("cho-evil"); len(l) != 1 {
		t.Errorf("the announcing gateway keeps %d of its clips, want only its newest", len(l))
	}
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestPutOffsetOverflow: a chunk's offset comes from its topic (any
// int64): an offset near the largest int64 must be refused as beyond the
// announced length, not overflow past the check into a write.
func TestPutOffsetOverflow(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d := []byte("0123456789")
	announce(t, s, "gw1", "c1", d)
	_, err = s.Put("gw1", "c1", math.MaxInt64-3, d)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "beyond its announced length") {
		t.Fatalf("chunk at MaxInt64-3: %v, want refused beyond the announced length", err)
	}
	if st, _, _ := s.Status("gw1", "c1"); st.Have != 0 || len(st.Spans) != 0 {
		t.Fatalf("after the refused chunk: %+v", st)
	}
	// Nor with a clip announced as long as an int64 goes (refused: more
	// than MaxClipBytes).
	if err := s.Announce(Info{Gateway: "gw1", ID: "huge", Bytes: math.MaxInt64, SHA256: strings.Repeat("ab", 32)}); !errors.Is(err, ErrRefused) {
		t.Fatalf("a clip of MaxInt64 bytes announced: %v", err)
	}
	if _, err := s.Put("gw1", "huge", math.MaxInt64-3, d); !errors.Is(err, ErrRefused) {
		t.Fatalf("chunk at MaxInt64-3 of a clip of MaxInt64 bytes: %v, want refused", err)
	}
}
