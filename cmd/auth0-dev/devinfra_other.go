//go:build !linux

package main

import "os/exec"

// dieWithParent is best effort off Linux: the child is stopped by dev's
// normal shutdown only.
func dieWithParent(*exec.Cmd) {}
