package wire

import "testing"

func TestClipChunkTopic(t *testing.T) {
	tp := Topics{Prefix: "antt", Gateway: "cong-khu-3"}
	topic := tp.ClipChunk("gate-20261202t030000-1", 262144)
	gw, rest, ok := Split("antt", topic)
	if !ok || gw != "cong-khu-3" {
		t.Fatalf("Split(%q) = %q, %q, %v", topic, gw, rest, ok)
	}
	id, off, err := ParseClipChunk(rest)
	if err != nil || id != "gate-20261202t030000-1" || off != 262144 {
		t.Fatalf("ParseClipChunk(%q) = %q, %d, %v", rest, id, off, err)
	}
	for _, bad := range []string{"clip/x", "clip/../0", "clip/a/-1", "clip/a/01", "clip/A/0", "snapshot/a/0", "clip/a/1/2", "clip/a/99999999999999999999"} {
		if _, _, err := ParseClipChunk(bad); err == nil {
			t.Errorf("ParseClipChunk(%q): no error", bad)
		}
	}
}

func FuzzParseClipChunk(f *testing.F) {
	f.Add("clip/cam-1/0")
	f.Add("clip/a..b/5")
	f.Fuzz(func(t *testing.T, rest string) {
		id, off, err := ParseClipChunk(rest)
		if err != nil {
			return
		}
		tp := Topics{Prefix: "p", Gateway: "g"}
		if got := tp.ClipChunk(id, off); got != "p/g/"+rest {
			t.Fatalf("round trip %q -> %q", rest, got)
		}
	})
}
