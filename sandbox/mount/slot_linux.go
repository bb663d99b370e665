package mount

// SlotPlan: the default plan split for a zero-process slot, a base applied once and the mounts each run makes afresh.

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

// SlotStash is where a slot's mount namespace keeps the sources of the
// run's masks (an empty directory, files of fixed content): the host's
// directory beside the skeletons, bound read-only over the mount point of
// /proc. Each run mounts its own proc on top, so no program sees it; the
// run's forkexec child works there meanwhile and finds the sources by
// relative names.
const SlotStash = "/proc"

// SlotPlan is the default plan of a box split for a zero-process slot
// (sandbox/slots): what the slot's mount namespace holds for all its runs,
// and what each run mounts afresh in its private copy of it.
type SlotPlan struct {
	// Base is applied once, in the slot's mount namespace (Plan.Apply):
	// the read-only tree, /dev, the binds, empty mount points for /tmp,
	// /dev/shm and /w, and the stash at /proc.
	Base *Plan
	// Run is the run's own mounts, with targets inside the box and no
	// root, for forkexec.Slot.Mounts: a tmpfs /tmp also seen at /dev/shm,
	// a fresh read-only /proc with the masks of Default, and a tmpfs /w
	// owned by the box (RunOwnWork leaves /w out for a run that brings a
	// host work directory).
	Run, RunOwnWork *Plan
}

// Slot returns the plan of a slot. o.WorkDir must be "": a run's /w is its
// own. uid and gid own the run's tmpfs /w as the host sees them (the box's
// host ids): the run's mounts are made from the host's user namespace,
// where the box's ids mean nothing.
func Slot(o Options, uid, gid int) (*SlotPlan, error) {
	if o.WorkDir != "" {
		return nil, fmt.Errorf("%w: a slot's /w comes with each run, not with the slot", ErrBadPlan)
	}
	size := o.TmpfsSize
	if size <= 0 {
		size = sandbox.DefaultLimits.Tmpfs
	}
	b := NewBuilder()
	addBoxBase(b)
	b.Dir("/tmp", 0o755)
	b.Dir("/dev/shm", 0o755)
	b.Dir(sandbox.WorkDir, 0o755)
	// noexec too: a bind from the stash takes all four flags from it, so a
	// run's masks need no step of their own to set them (see rootless).
	b.add(entry{kind: entryBind, source: skeletonBase(), target: SlotStash, noExec: true})
	if err := addBinds(b, o.Binds, []string{"/proc", "/dev", "/tmp", sandbox.WorkDir}); err != nil {
		return nil, err
	}
	base, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("mount: slot plan: %w", err)
	}

	run := NewBuilder()
	run.Tmpfs("/tmp", TmpfsOptions{Size: size, Mode: 0o777 | os.ModeSticky})
	run.Rebind("/tmp", "/dev/shm", true)
	run.Proc("/proc")
	maskProc(run)
	if run.err != nil {
		return nil, fmt.Errorf("mount: slot plan: %w", run.err)
	}
	sp := &SlotPlan{Base: base, RunOwnWork: rootless(run.entries)}
	data := tmpfsData(TmpfsOptions{Size: size, Mode: 0o755}) + fmt.Sprintf(",uid=%d,gid=%d", uid, gid)
	work := entry{kind: entryTmpfs, target: sandbox.WorkDir, tmpfs: TmpfsOptions{Size: size, Mode: 0o755}}
	sp.Run = rootless(append(run.entries, work))
	w := &sp.Run.ops[len(sp.Run.ops)-1]
	w.Data = cstr(data)
	return sp, nil
}

// stashAttr are the flags of the slot's stash mount, which a bind from it
// keeps.
const stashAttr = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC

// rootless compiles entries into a plan without a skeleton: targets are
// paths inside the box, and sources in the skeletons' directory become
// names relative to it (the slot's stash). A bind from the stash keeps the
// stash's flags (a bind copies its source mount's), so the step that would
// set no more than those on it is left out.
func rootless(entries []entry) *Plan {
	p := &Plan{}
	prefix := skeletonBase() + "/"
	for _, e := range entries {
		fromStash := false
		for _, op := range compile("", e) {
			if rel, ok := strings.CutPrefix(op.source, prefix); ok && !op.sourceIsIn {
				op.Source, op.source = cstr(rel), rel
				fromStash = op.Kind == OpMaskFile || op.Kind == OpMaskDir
			}
			if op.Kind == OpSetAttr && fromStash && !op.Recursive && op.Attr&^stashAttr == 0 {
				continue
			}
			p.ops = append(p.ops, op)
		}
	}
	p.tail = len(p.ops)
	return p
}
