package clips

import "testing"

// addSpan keeps the held ranges sorted, disjoint and exactly the union of
// what was added, whatever the order and overlaps (a model of bools).
func FuzzAddSpan(f *testing.F) {
	f.Add([]byte{0, 10, 20, 5, 3, 30})
	f.Add([]byte{5, 5, 0, 5, 10, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		const n = 300
		var model [n]bool
		var spans [][2]int64
		for i := 0; i+1 < len(b); i += 2 {
			from, l := int64(b[i]), int64(b[i+1]%40)+1
			to := min(from+l, n)
			spans = addSpan(spans, from, to)
			for k := from; k < to; k++ {
				model[k] = true
			}
		}
		var want int64
		for _, m := range model {
			if m {
				want++
			}
		}
		if held(spans) != want {
			t.Fatalf("held %d, model %d: %v", held(spans), want, spans)
		}
		for i, sp := range spans {
			if sp[0] >= sp[1] || (i > 0 && spans[i-1][1] >= sp[0]) {
				t.Fatalf("spans not sorted and disjoint: %v", spans)
			}
			for k := sp[0]; k < sp[1]; k++ {
				if !model[k] {
					t.Fatalf("byte %d claimed, never added: %v", k, spans)
				}
			}
		}
	})
}
