package harness

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"gosandbox/sandbox"
)

// Backend is a sandbox as the suites and the benchmarks see it.
type Backend interface {
	// Name is the name the backend is opened by ("oneshot").
	Name() string
	// Features says what the backend can express or guarantees, so a spec
	// that needs more skips with the reason instead of failing.
	Features() Features
	// Run runs one spec to completion; see sandbox.Runner.
	Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error)
	// Close releases everything the backend keeps (pooled containers); it
	// leaves nothing behind on the host.
	Close() error
}

// Features describes a backend. The zero value is a backend that isolates
// nothing.
type Features struct {
	Isolated bool // runs in its own namespaces (false only for none)
	Reuses   bool // runs share a reused container (pooled): the U* properties apply
	Cgroups  bool // limits and accounting from cgroups (memory peak, CPU of children)
	Seccomp  bool // a syscall filter is installed
	// Unsupported lists Spec fields or properties the backend cannot express,
	// each with the reason ("Limits.CPU": "bwrap has no CPU limit").
	Unsupported map[string]string
}

// Options configure a backend when it is opened.
type Options struct {
	// PoolSize is the number of containers a pooled backend keeps ready
	// (default 1).
	PoolSize int
}

// ErrUnknownBackend is returned by Open for a name no backend has.
var ErrUnknownBackend = errors.New("harness: unknown backend")

// ErrUnavailable is returned by Open when the backend exists but cannot run on
// this host (a missing tool, no namespaces).
var ErrUnavailable = errors.New("harness: backend unavailable")

type opener func(Options) (Backend, error)

var (
	registryMu sync.Mutex
	registry   = map[string]opener{}
)

// register adds a backend; called from init functions of this package.
func register(name string, open opener) {
	registryMu.Lock()
	defer registryMu.Unlock()
	registry[name] = open
}

// Names lists every known backend, sorted.
func Names() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// sandboxes are the backends that isolate a run themselves, in the order
// their figures are read: one-shot, pooled containers, slots. The others
// are the lab's: none (no isolation, the floor) and the external peers.
var sandboxes = []string{"oneshot", "container", "slots"}

// Sandboxes lists this build's real sandboxes, the backends that run, batch
// and serve may select, in that order; a sandbox not registered in this
// build is left out, and one registered later appears here unchanged.
func Sandboxes() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	var out []string
	for _, n := range sandboxes {
		if _, ok := registry[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// Open opens the named backend. An unknown name wraps ErrUnknownBackend, a
// backend that cannot run here wraps ErrUnavailable; both name the backend.
func Open(name string, opts Options) (Backend, error) {
	registryMu.Lock()
	open, ok := registry[name]
	registryMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownBackend, name, strings.Join(Names(), ", "))
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = 1
	}
	return open(opts)
}
