package live

import (
	"testing"
	"time"
)

// BytesToday counts what open sessions sent and keeps what ended ones
// sent, until the day changes.
func TestLiveBytesToday(t *testing.T) {
	t.Parallel()
	m := startManager(t, Options{Location: time.UTC}, fileHub(t, "gate"))
	if b := m.BytesToday(); b != 0 {
		t.Fatalf("before any viewer: %d bytes", b)
	}
	v := watchWithPion(t, m, "gate")
	waitFrames(t, v, 25)
	b1 := m.BytesToday()
	st, err := m.Stats(v.session)
	if err != nil {
		t.Fatal(err)
	}
	if b1 == 0 || b1 > st.Bytes {
		t.Errorf("open session: BytesToday %d, the session's bytes a moment later %d", b1, st.Bytes)
	}
	if err := m.Close(v.session); err != nil {
		t.Fatal(err)
	}
	after := m.BytesToday()
	if after < st.Bytes {
		t.Errorf("after close: BytesToday %d, below the %d the session had sent", after, st.Bytes)
	}
	if again := m.BytesToday(); again != after {
		t.Errorf("BytesToday moved with no session: %d then %d", after, again)
	}
	if next := m.bytesOn(time.Now().Add(24 * time.Hour)); next != 0 {
		t.Errorf("the next day: %d bytes, want 0", next)
	}
}
