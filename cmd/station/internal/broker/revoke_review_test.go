package broker

import (
	"testing"
	"time"
)

// slowIter makes one password check long enough for the test to change
// the password file while it runs (PBKDF2 is not interrupted); fewer under
// -short (qemu-user is slower, and the connect wait is 5 s).
func slowIter() int {
	if testing.Short() {
		return 300_000
	}
	return 1_500_000
}

// TestLoginUnderWayDuringRekey: a login whose password check began
// against the old table (the old password of a gateway whose credentials
// are being re-issued, or of one removed and enrolled again) must not be
// admitted once the table has changed: the sweep of Rekey/Revoke has
// already run, and the second sweep comes only ConnectTimeout later, so
// the old password would hold a live session meanwhile.
func TestLoginUnderWayDuringRekey(t *testing.T) {
	pw := writePasswd(t, "station:s")
	if err := SetPassword(pw, "gw-b", "old", slowIter()); err != nil {
		t.Fatal(err)
	}
	b, addr := startBroker(t, Options{PasswdFile: pw, Limits: Limits{ConnectTimeout: time.Minute}})
	type res struct {
		c   *client
		err error
	}
	done := make(chan res, 1)
	go func() {
		c, err := dial(t, addr, "gw-b", "old")
		done <- res{c, err}
	}()
	waitCond(t, "the old password being checked", func() bool { return b.guard.checked.Load() == 1 })
	if err := SetPassword(pw, "gw-b", "new", testIter); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Rekey("gw-b"); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err == nil {
		// Admitted before the Rekey (a slow machine) is cut by its sweep;
		// admitted after it would stay until the second sweep.
		waitCond(t, "the old password's login cut off", func() bool { return !r.c.IsConnectionOpen() })
	}
	mustDial(t, addr, "gw-b", "new")
}
