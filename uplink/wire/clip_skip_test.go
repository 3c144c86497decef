package wire

import (
	"encoding/json"
	"strings"
	"testing"
)

// A skip list of at most ClipGetMaxSkip clip ids passes; one more, or a
// bad id, is refused naming it; an empty skip is left off the wire.
func TestCheckClipSkip(t *testing.T) {
	ids := make([]string, ClipGetMaxSkip)
	for i := range ids {
		ids[i] = "seg-" + strings.Repeat("a", i%40)
	}
	if err := CheckClipSkip(ids); err != nil {
		t.Fatalf("%d ids: %v", len(ids), err)
	}
	if err := CheckClipSkip(append(ids, "one-more")); err == nil || !strings.Contains(err.Error(), "1001 clip ids, more than 1000") {
		t.Fatalf("1001 ids: %v", err)
	}
	if err := CheckClipSkip([]string{"ok", "a/b"}); err == nil || !strings.Contains(err.Error(), `item 1, "a/b", is not a clip id`) {
		t.Fatalf("bad id: %v", err)
	}
	b, _ := json.Marshal(ClipGetRange{Camera: "c", From: "f", To: "t"})
	if string(b) != `{"camera":"c","from":"f","to":"t"}` {
		t.Fatalf("range without skip on the wire: %s", b)
	}
}
