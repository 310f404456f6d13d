package poller

import (
	"context"
	"sync"
)

// sidecar runs one source beside another (reconcile beside events, also
// while auto has fallen back to search): from the first start until stop,
// under the owner's ctx. Its failure (a lost lease) ends that ctx.
type sidecar struct {
	src     Source // nil: nothing to run
	sink    Sink
	ctx     context.Context
	cancel  context.CancelCauseFunc
	wg      sync.WaitGroup
	started bool
}

// newSidecar returns the owner's ctx, which the sidecar's failure cancels.
func newSidecar(ctx context.Context, src Source, sink Sink) (context.Context, *sidecar) {
	ctx, cancel := context.WithCancelCause(ctx)
	return ctx, &sidecar{src: src, sink: sink, ctx: ctx, cancel: cancel}
}

// start runs the source once; later calls do nothing.
func (c *sidecar) start() {
	if c.started || c.src == nil {
		return
	}
	c.started = true
	c.wg.Go(func() {
		if err := c.src.Run(c.ctx, c.sink); err != nil {
			c.cancel(err)
		}
	})
}

// stop ends the source and waits for it.
func (c *sidecar) stop() {
	c.cancel(nil)
	c.wg.Wait()
}
