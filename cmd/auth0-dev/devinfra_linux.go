package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the child get SIGKILL when `dev` dies, even by SIGKILL,
// so no redis-server is left behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
