// Package reexec starts the running test binary again as a child process,
// the way crash and end-to-end tests play a gateway that can be killed.
//
// Under qemu-user (`go test -exec qemu-arm-static`) the binary is an ARM
// executable that the host cannot start by itself; the Makefile then sets
// ANTT_TEST_EXEC to the emulator, and the child runs under it too.
package reexec

import (
	"os"
	"os/exec"
	"strings"
)

// EnvExec names the wrapper (an emulator) children are started through.
const EnvExec = "ANTT_TEST_EXEC"

// Command returns a command running this executable with args, through the
// wrapper named by ANTT_TEST_EXEC when it is set.
func Command(args ...string) *exec.Cmd {
	if w := strings.Fields(os.Getenv(EnvExec)); len(w) > 0 {
		return exec.Command(w[0], append(append(w[1:], os.Args[0]), args...)...)
	}
	return exec.Command(os.Args[0], args...)
}
