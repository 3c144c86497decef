package broker

import (
	"os"
	"strings"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// dropUser rewrites the password file without user.
func dropUser(t *testing.T, path, user string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for l := range strings.Lines(string(b)) {
		if !strings.HasPrefix(l, user+":") {
			keep = append(keep, l)
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(keep, "")), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRevoke: revoking a removed user disconnects its live session at
// once, discards the session kept for it, leaves other gateways alone,
// and the user cannot log in again. Revoking a user still in the files is
// refused.
func TestRevoke(t *testing.T) {
	pw := writePasswd(t, "station:s", "gw-a:a", "gw-b:b")
	b, addr := startBroker(t, Options{PasswdFile: pw})
	keep := func(o *paho.ClientOptions) { o.SetCleanSession(false) }
	a := mustDial(t, addr, "gw-a", "a", keep)
	a.subscribe(t, "antt/gw-a/cmd/#", 1)
	gb := mustDial(t, addr, "gw-b", "b", keep)

	if _, err := b.Revoke("gw-a"); err == nil || !strings.Contains(err.Error(), "still in") {
		t.Fatalf("revoking a user still in the password file: %v", err)
	}
	if !a.IsConnectionOpen() {
		t.Fatal("a refused revocation disconnected the gateway")
	}

	dropUser(t, pw, "gw-a")
	n, err := b.Revoke("gw-a")
	if err != nil || n != 1 {
		t.Fatalf("revoke: %d, %v", n, err)
	}
	waitCond(t, "the revoked gateway disconnected", func() bool { return !a.IsConnectionOpen() })
	waitCond(t, "its session discarded", func() bool { _, ok := b.srv.Clients.Get("gw-a"); return !ok })
	if !gb.IsConnectionOpen() {
		t.Error("revoking gw-a disconnected gw-b")
	}
	if c, err := dial(t, addr, "gw-a", "a"); err == nil {
		c.Disconnect(0)
		t.Fatal("a revoked gateway logged in again")
	}
}

// TestRekey: a new password disconnects the client logged in with the old
// one and keeps its session; the old password no longer works, the new
// one does.
func TestRekey(t *testing.T) {
	pw := writePasswd(t, "station:s", "gw-b:old")
	b, addr := startBroker(t, Options{PasswdFile: pw})
	gb := mustDial(t, addr, "gw-b", "old", func(o *paho.ClientOptions) { o.SetCleanSession(false) })
	gb.subscribe(t, "antt/gw-b/cmd/#", 1)
	if err := SetPassword(pw, "gw-b", "new", testIter); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Rekey("gw-b"); err != nil || n != 1 {
		t.Fatalf("rekey: %d, %v", n, err)
	}
	waitCond(t, "the old login disconnected", func() bool { return !gb.IsConnectionOpen() })
	if _, ok := b.srv.Clients.Get("gw-b"); !ok {
		t.Error("re-keying discarded the gateway's session")
	}
	if c, err := dial(t, addr, "gw-b", "old"); err == nil {
		c.Disconnect(0)
		t.Fatal("the old password still works")
	}
	mustDial(t, addr, "gw-b", "new")
}
