package harness

import (
	"context"
	"fmt"
	"os"
	"strings"

	"gosandbox/sandbox"
	"gosandbox/sandbox/oneshot"
)

func init() { register("oneshot", openOneshot) }

// oneshotBackend runs every spec in a fresh box (sandbox/oneshot).
type oneshotBackend struct {
	runner   *oneshot.Runner
	features Features
}

func openOneshot(Options) (Backend, error) {
	if err := userNamespacesUsable(); err != nil {
		return nil, fmt.Errorf("%w: oneshot: %v", ErrUnavailable, err)
	}
	r := &oneshot.Runner{}
	f := Features{Isolated: true, Seccomp: true}
	if ok, why := r.Cgroups(); ok {
		f.Cgroups = true
	} else {
		reason := fmt.Sprintf("no cgroups (%v): rlimits and rusage only", why)
		f.Unsupported = map[string]string{
			"R2":            reason + "; CPU of children counts once they are reaped",
			"R7":            reason + "; peak memory is the largest process's maxrss",
			"R8":            reason + "; tmpfs has its own size cap but is not charged to the box",
			"R12":           reason,
			"Limits.CPUSet": reason,
		}
	}
	return &oneshotBackend{runner: r, features: f}, nil
}

// userNamespacesUsable says why a box cannot be made here, if it cannot.
func userNamespacesUsable() error {
	if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil && strings.TrimSpace(string(b)) == "0" {
		return fmt.Errorf("user namespaces disabled (user.max_user_namespaces = 0)")
	}
	if os.Geteuid() != 0 {
		if b, err := os.ReadFile("/proc/sys/kernel/unprivileged_userns_clone"); err == nil && strings.TrimSpace(string(b)) == "0" {
			return fmt.Errorf("unprivileged user namespaces disabled (kernel.unprivileged_userns_clone = 0)")
		}
	}
	return nil
}

func (b *oneshotBackend) Name() string       { return "oneshot" }
func (b *oneshotBackend) Features() Features { return b.features }

func (b *oneshotBackend) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	res, err := b.runner.Run(ctx, spec)
	if err == nil {
		res.Backend = "oneshot"
	}
	return res, err
}

// Close removes the cgroups the runner keeps ready for the next runs and
// waits for those of finished runs to go.
func (b *oneshotBackend) Close() error { return b.runner.Close() }
