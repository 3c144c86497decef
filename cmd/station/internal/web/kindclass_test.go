package web

import "testing"

// TestKindClass: a gateway's kind with spaces cannot add classes to its
// rows (is-alarm would pin them as alarms).
func TestKindClass(t *testing.T) {
	for k, want := range map[string]string{
		"motion":                 "kind-motion",
		"camera_offline":         "kind-camera_offline",
		"motion is-alarm":        "kind-other",
		"":                       "kind-other",
		"<b>":                    "kind-other",
		"MOTION":                 "kind-other",
		string(make([]byte, 41)): "kind-other",
	} {
		if got := kindClass(k); got != want {
			t.Errorf("kindClass(%q) = %q, want %q", k, got, want)
		}
	}
}
