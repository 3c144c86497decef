package config

import (
	"strconv"
	"strings"
	"testing"
)

// TestMaxBytesBeyondWhatTheBoardMaps: outbox.max_bytes above what a 32-bit
// board can map is refused with the key and its line; the 32-bit rule is
// checked on any machine by setting the limit a 32-bit board has, and the
// running board's own limit is the outbox's.
func TestMaxBytesBeyondWhatTheBoardMaps(t *testing.T) {
	src := []byte("gateway: {id: cong-khu-3}\nuplink: {broker: \"mqtt://127.0.0.1:1883\"}\noutbox:\n  max_bytes: 2GiB\n")
	board := maxBytesLimit
	defer func() { maxBytesLimit = board }()
	if strconv.IntSize == 32 && board != 1<<30 || strconv.IntSize == 64 && board != 1<<40 {
		t.Fatalf("this %d-bit board's limit is %d", strconv.IntSize, board)
	}

	maxBytesLimit = 1 << 30 // a 32-bit board
	_, err := Parse(src, LookupEnv(noEnv))
	want := "line 4: outbox.max_bytes: 2GiB is above 1GiB, the most this board can use"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("2GiB on a 32-bit board: %v, want %q", err, want)
	}
	if _, err := Parse([]byte(strings.Replace(string(src), "2GiB", "1GiB", 1)), LookupEnv(noEnv)); err != nil {
		t.Fatalf("1GiB on a 32-bit board: %v", err)
	}

	maxBytesLimit = 1 << 40 // a 64-bit board
	if _, err := Parse(src, LookupEnv(noEnv)); err != nil {
		t.Fatalf("2GiB on a 64-bit board: %v", err)
	}
}
