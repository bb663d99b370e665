package harness

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"gosandbox/internal/testhost"
	"gosandbox/sandbox"
)

// The test binary is also the container backend's init.
func TestMain(m *testing.M) {
	MaybeRunInit()
	os.Exit(m.Run())
}

// TestRunnersRefuseTheSameSpecs (issue #12 item 1): the one-shot runner,
// the container pool and the slots accept and refuse exactly the same
// specs, with one host-side pre-check: each bad spec below is refused by
// every one of them before anything runs, with ErrInvalidSpec (the CLI's
// exit 2) and the same message, never an internal-error result.
func TestRunnersRefuseTheSameSpecs(t *testing.T) {
	testhost.NeedRoot(t, "the container and slots backends need root")
	backends := map[string]Backend{}
	for _, name := range []string{"oneshot", "container", "slots"} {
		b, err := Open(name, Options{PoolSize: 1})
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		t.Cleanup(func() {
			if err := b.Close(); err != nil {
				t.Errorf("close %s: %v", name, err)
			}
		})
		backends[name] = b
	}
	tru := func(binds ...sandbox.Bind) sandbox.Spec {
		return sandbox.Spec{Args: []string{"/bin/true"}, Binds: binds}
	}
	cases := map[string]sandbox.Spec{
		"bind target below a file":  tru(sandbox.Bind{Source: "/tmp", Target: "/etc/passwd/x"}),
		"bind target inside /tmp":   tru(sandbox.Bind{Source: "/tmp", Target: "/tmp/x"}),
		"bind target given twice":   tru(sandbox.Bind{Source: "/usr", Target: "/data"}, sandbox.Bind{Source: "/etc", Target: "/data"}),
		"bind over /proc":           tru(sandbox.Bind{Source: "/etc/hostname", Target: "/proc/x"}),
		"bind inside /w":            tru(sandbox.Bind{Source: "/etc", Target: "/w/etc"}),
		"bind source missing":       tru(sandbox.Bind{Source: "/nonexistent/gosandbox-src", Target: "/data"}),
		"bind source relative":      tru(sandbox.Bind{Source: "tmp", Target: "/data"}),
		"bind target relative":      tru(sandbox.Bind{Source: "/tmp", Target: "data"}),
		"no program":                {},
		"memory below the minimum":  {Args: []string{"/bin/true"}, Limits: sandbox.Limits{Memory: 1}},
		"tmpfs below the minimum":   {Args: []string{"/bin/true"}, Limits: sandbox.Limits{Tmpfs: 4 << 10}},
		"wall below the minimum":    {Args: []string{"/bin/true"}, Limits: sandbox.Limits{Wall: time.Nanosecond}},
		"cpu below the minimum":     {Args: []string{"/bin/true"}, Limits: sandbox.Limits{CPU: time.Microsecond}},
		"copy-in host path missing": {Args: []string{"/bin/true"}, CopyIn: []sandbox.CopyIn{{Name: "x", HostPath: "/nonexistent/input"}}},
		"copy-in larger than /w":    {Args: []string{"/bin/true"}, CopyIn: []sandbox.CopyIn{{Name: "x", Content: make([]byte, 2<<20)}}, Limits: sandbox.Limits{Tmpfs: 1 << 20}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for what, spec := range cases {
		msgs := map[string]string{}
		for name, b := range backends {
			res, err := b.Run(ctx, spec)
			if !errors.Is(err, sandbox.ErrInvalidSpec) {
				t.Errorf("%s on %s: %v (result %s: %s); want ErrInvalidSpec", what, name, err, res.Status, res.Message)
				continue
			}
			msgs[name] = err.Error()
		}
		if msgs["container"] != msgs["oneshot"] || msgs["slots"] != msgs["oneshot"] {
			t.Errorf("%s: the runners disagree on why:\n  oneshot:   %s\n  container: %s\n  slots:     %s",
				what, msgs["oneshot"], msgs["container"], msgs["slots"])
		}
	}
	// Refusing ran nothing and broke nothing: a good spec still runs on each.
	for name, b := range backends {
		if res, err := b.Run(ctx, sandbox.Spec{Args: []string{"/bin/true"}}); err != nil || res.Status != sandbox.StatusOK {
			t.Errorf("%s after the refusals: %s (%s), %v", name, res.Status, res.Message, err)
		}
	}
}
