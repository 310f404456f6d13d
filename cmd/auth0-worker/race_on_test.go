//go:build race

package main

// raceEnabled: the race detector inflates memory; figures are asserted without it.
const raceEnabled = true
