package workercmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// exitSecondSignal is the exit code when a second SIGINT or SIGTERM cuts the
// graceful shutdown short (128 + SIGINT, the shell's code for Ctrl-C).
const exitSecondSignal = 130

// SignalContext returns a context that ends at the first SIGINT or SIGTERM,
// which starts the graceful shutdown. A second one ends the process at once
// with exit code 130: an operator who presses Ctrl-C twice does not want to
// wait for in-flight work. stop ends the watching.
func SignalContext(stderr io.Writer) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go watchSignals(sigc, done, cancel, func(sig os.Signal) {
		fmt.Fprintf(stderr, "second %v during shutdown: exiting now\n", sig)
		os.Exit(exitSecondSignal)
	})
	return ctx, func() {
		signal.Stop(sigc)
		close(done)
		cancel()
	}
}

// watchSignals cancels at the first signal and calls exit at the second.
func watchSignals(sigc <-chan os.Signal, done <-chan struct{}, cancel func(), exit func(os.Signal)) {
	select {
	case <-sigc:
		cancel()
	case <-done:
		return
	}
	select {
	case sig := <-sigc:
		exit(sig)
	case <-done:
	}
}
