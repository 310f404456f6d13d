package main

import (
	"testing"

	"github.com/auth0-worker/auth0-worker/internal/testproc"
)

// The test binary doubles as the auth0-dev binary (testproc).
func TestMain(m *testing.M) { testproc.Main(m, main) }
