package container

import (
	"context"
	"reflect"

	"gosandbox/sandbox/workdir"
)

// mergeWatches returns a channel closed when any output capture attached to
// ctx (workdir.Capture.Watch) overflows, nil when there is none. The helper
// goroutine for several captures ends with stop, so a run leaves none behind.
func mergeWatches(ctx context.Context, stop <-chan struct{}) <-chan struct{} {
	ws := workdir.Watches(ctx)
	switch len(ws) {
	case 0:
		return nil
	case 1:
		return ws[0]
	}
	out := make(chan struct{})
	go func() {
		cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(stop)}}
		for _, w := range ws {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w)})
		}
		if i, _, _ := reflect.Select(cases); i > 0 {
			close(out)
		}
	}()
	return out
}
