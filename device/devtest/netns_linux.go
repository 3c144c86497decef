package devtest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// InNetns runs the calling test again, alone, in a network namespace of
// its own (unshare --net, needs root) whose shell first runs setup (for
// example "ip link set lo up"), so that a test can listen on fixed ports
// or non-loopback addresses with no traffic leaving the machine. env
// marks the copy inside: there InNetns returns inside = true at once and
// the test goes on; outside it waits up to timeout for the copy, fails
// the test unless the copy passed, and returns its output. Under
// qemu-user (make test-arm) the copy runs through the emulator named in
// ANTT_TEST_EXEC, as go test -exec ran this one. args are further flags
// for the copy (a -test.timeout inside the wait, say).
func InNetns(t *testing.T, env, setup string, timeout time.Duration, args ...string) (inside bool, out string) {
	t.Helper()
	if os.Getenv(env) != "" {
		return true, ""
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatalf("this test needs unshare (util-linux) and root: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	argv := append([]string{"--net", "--", "/bin/sh", "-c", setup + ` && exec ${ANTT_TEST_EXEC:-} "$@"`, "sh",
		os.Args[0], "-test.run=^" + t.Name() + "$", "-test.v", "-test.count=1"}, args...)
	cmd := exec.CommandContext(ctx, unshare, argv...)
	cmd.Env = append(os.Environ(), env+"=1")
	b, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "--- PASS: "+t.Name()) {
		t.Fatalf("in a network namespace: %v\n%s", err, b)
	}
	return false, string(b)
}
