package testredis

import (
	"os/exec"
	"syscall"
)

// dieWithParent kills the server when the test binary dies, even when a
// panic or a -timeout skips t.Cleanup.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
