package wire

import (
	"regexp"
	"strings"
	"testing"
)

// The regular expressions ValidID and ValidEpoch were, kept as their
// reference.
var (
	idRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	epochRE = regexp.MustCompile(`^[a-z0-9]{1,32}$`)
)

// splitRef is Split as it was written first, the reference of FuzzValidators.
func splitRef(prefix, topic string) (string, string, bool) {
	p := prefix + "/"
	if !strings.HasPrefix(topic, p) {
		return "", "", false
	}
	gw, rest, ok := strings.Cut(topic[len(p):], "/")
	if !ok || !idRE.MatchString(gw) || rest == "" {
		return "", "", false
	}
	return gw, rest, true
}

// FuzzValidators keeps ValidID, ValidEpoch and Split equal to the regular
// expressions they replace.
func FuzzValidators(f *testing.F) {
	for _, s := range []string{
		"", "a", "-", "a-", "-a", "cong-khu-3", "0f3a9c2e4b5d6a7e", "A", "é", "a b", "a\n",
		strings.Repeat("a", 32), strings.Repeat("a", 33), strings.Repeat("a", 63), strings.Repeat("a", 64),
		"antt/cong-khu-3/event", "antt/cong-khu-3/", "antt//event", "antt", "antt/", "anttx/gw/event",
		"antt/gw/snapshot/12", "antt/-gw/event", "antt/Gw/event",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidID(s), idRE.MatchString(s); got != want {
			t.Fatalf("ValidID(%q) = %v, regexp says %v", s, got, want)
		}
		if got, want := ValidEpoch(s), epochRE.MatchString(s); got != want {
			t.Fatalf("ValidEpoch(%q) = %v, regexp says %v", s, got, want)
		}
		for _, prefix := range []string{"antt", "", "a/b"} {
			g1, r1, ok1 := Split(prefix, s)
			g2, r2, ok2 := splitRef(prefix, s)
			if g1 != g2 || r1 != r2 || ok1 != ok2 {
				t.Fatalf("Split(%q, %q) = %q, %q, %v; want %q, %q, %v", prefix, s, g1, r1, ok1, g2, r2, ok2)
			}
		}
	})
}

// BenchmarkSplit is the topic check the station makes on every publish.
func BenchmarkSplit(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := Split("antt", "antt/cong-khu-3/event"); !ok {
			b.Fatal("not split")
		}
	}
}
