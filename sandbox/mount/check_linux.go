package mount

// CheckBinds: the mount part of the host-side pre-check every runner makes.

import (
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

// CheckBinds reports whether the default plan of a box with these binds and
// tmpfs size can be built (a bind target below a file, inside /tmp or
// given twice cannot). sandbox.Spec.Prepare cannot tell, as only this
// package knows the box's tree; every runner calls CheckBinds after it,
// before anything runs, so that one-shot, pooled and slot runs refuse the
// same specs with the same error, which the caller wraps in
// sandbox.ErrInvalidSpec. The plan checked is the one without a host work
// directory (nothing may be bound inside /w), the strictest a runner
// builds. Layouts that passed are remembered, so the check costs a map
// look-up on the common path.
func CheckBinds(binds []sandbox.Bind, tmpfs int64) error {
	var key strings.Builder
	fmt.Fprintf(&key, "%d", tmpfs)
	for _, bd := range binds {
		fmt.Fprintf(&key, "\x00%s\x00%s\x00%v", bd.Source, bd.Target, bd.Writable)
	}
	k := key.String()
	checked.mu.Lock()
	_, ok := checked.ok[k]
	checked.mu.Unlock()
	if ok {
		return nil
	}
	if _, err := Default(Options{TmpfsSize: tmpfs, Binds: binds}); err != nil {
		return err
	}
	checked.mu.Lock()
	if len(checked.ok) >= maxChecked {
		clear(checked.ok) // callers with ever new binds: keep memory bounded
	}
	checked.ok[k] = struct{}{}
	checked.mu.Unlock()
	return nil
}

// maxChecked bounds the layouts CheckBinds remembers.
const maxChecked = 64

var checked = struct {
	mu sync.Mutex
	ok map[string]struct{}
}{ok: map[string]struct{}{}}

// BindSources names what each bind's source is now (device and inode, as a
// bind takes it, following links), for runners that keep a box's binds
// between runs (slots, pooled containers): a caller that replaced a source
// (a new copy renamed over it) must get a box made anew, not the old file
// or directory, which the kept bind holds alive (U3). Take it before the
// binds are made: a source replaced in between then only costs one more
// rebuild. The kept inode cannot be freed, so its number is not reused.
func BindSources(binds []sandbox.Bind) string {
	var b strings.Builder
	for _, bd := range binds {
		var st unix.Stat_t
		if err := unix.Stat(bd.Source, &st); err != nil {
			fmt.Fprintf(&b, "%v\x00", err)
			continue
		}
		fmt.Fprintf(&b, "%d:%d\x00", st.Dev, st.Ino)
	}
	return b.String()
}
