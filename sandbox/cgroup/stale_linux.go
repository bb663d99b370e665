package cgroup

// RemoveStale: removes the groups a killed supervisor left behind.

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// RemoveStale removes the groups a killed supervisor left behind: under
// every "gosandbox" root of the host (at the top of each hierarchy, and
// nested up to two levels down, such as memory/process_api/ID/gosandbox),
// the groups named WORD-PID-REST (WORD lowercase letters, as in
// "oneshot-123-4" or "container-123-1") whose PID is not a live process and
// which hold no process. Anything else is left alone: other names, groups
// of live (or unknowable) owners, and groups still holding processes. A
// "gosandbox" root left empty under a cgroup that is not this process's own
// is removed too, so it does not keep that cgroup alive. It returns how
// many groups it removed. Call it once per process, before creating groups.
//
// Owners are judged by pid, which means something only in the initial pid
// namespace (where every supervisor of the host is visible): anywhere else
// RemoveStale removes nothing.
func RemoveStale() (int, error) {
	if !inInitialPidNS() {
		return 0, nil
	}
	info, err := Detect()
	if err != nil {
		return 0, err
	}
	own := map[string]bool{}
	var mounts []string
	if info.Mode == V2 {
		mounts = []string{info.V2Mount}
	} else {
		for _, c := range []string{"memory", "pids", "cpuacct", "cpu", "cpuset"} {
			if h, ok := info.V1[c]; ok {
				mounts = append(mounts, h.Mount)
				own[filepath.Join(h.Own, RootName)] = true
			}
		}
	}
	removed := 0
	var errs []error
	for _, root := range staleRoots(mounts) {
		n, err := removeStaleIn(root)
		removed += n
		if err != nil {
			errs = append(errs, err)
		}
		if !own[root] && !isMountTop(root, mounts) {
			// Another cgroup's root of ours, now empty: rmdir fails
			// harmlessly (EBUSY) while anything is left in it.
			unix.Rmdir(root)
		}
	}
	return removed, errors.Join(errs...)
}

func isMountTop(root string, mounts []string) bool {
	for _, m := range mounts {
		if filepath.Dir(root) == filepath.Clean(m) {
			return true
		}
	}
	return false
}

// staleRoots lists the "gosandbox" directories at depth 0 to 2 below each
// mount, without duplicates (co-mounted v1 controllers share a mount).
func staleRoots(mounts []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range mounts {
		for _, pat := range []string{"", "*", "*/*"} {
			matches, _ := filepath.Glob(filepath.Join(m, pat, RootName))
			for _, d := range matches {
				if !seen[d] {
					seen[d] = true
					out = append(out, d)
				}
			}
		}
	}
	return out
}

func removeStaleIn(root string) (int, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	removed := 0
	var errs []error
	for _, e := range ents {
		pid, ok := ownerPid(e.Name())
		if !ok || !e.IsDir() || pidAlive(pid) {
			continue
		}
		dir := filepath.Join(root, e.Name())
		if pids, err := readPids(filepath.Join(dir, "cgroup.procs")); err != nil || len(pids) > 0 {
			continue
		}
		if err := unix.Rmdir(dir); err != nil && err != unix.ENOENT {
			if err != unix.EBUSY {
				errs = append(errs, &os.PathError{Op: "cgroup: remove stale group", Path: dir, Err: err})
			}
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

// ownerPid parses a group name WORD-PID-REST: WORD lowercase letters, PID a
// positive decimal, REST not empty.
func ownerPid(name string) (int, bool) {
	word, rest, ok := strings.Cut(name, "-")
	if !ok || word == "" || strings.TrimFunc(word, func(r rune) bool { return r >= 'a' && r <= 'z' }) != "" {
		return 0, false
	}
	pidStr, tail, ok := strings.Cut(rest, "-")
	if !ok || tail == "" || pidStr == "" || pidStr[0] == '0' {
		return 0, false
	}
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// pidAlive is false only when the kernel says no such process: EPERM (a
// process we may not signal) counts as alive.
func pidAlive(pid int) bool {
	return unix.Kill(pid, 0) != unix.ESRCH
}

// initialPidNSInode is the fixed inode number of the initial pid namespace
// (PROC_PID_INIT_INO).
const initialPidNSInode = 0xEFFFFFFC

func inInitialPidNS() bool {
	var st unix.Stat_t
	return unix.Stat("/proc/self/ns/pid", &st) == nil && st.Ino == initialPidNSInode
}
