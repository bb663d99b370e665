package cgroup

// The cgroup.procs files a child writes "0" into to join its group itself (cgroup v1).

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ProcsFiles opens the files a process writes "0" into to join the group:
// on v2 the group's cgroup.procs; on v1, one per hierarchy, its tasks file,
// which moves the writing thread alone. A single-threaded process (a child
// between clone and exec) joins as a whole either way, but on v1 a write to
// cgroup.procs takes the kernel's global threadgroup lock for writing,
// which waits for an RCU grace period when no migration happened just
// before (milliseconds when runs arrive apart), while a thread moving
// itself through tasks skips that lock. A process that holds the files can
// join the group with the credentials they were opened with:
// a pooled container's init uses that to let each of its programs enter
// the run's group by itself, without asking the host. The caller closes
// the files. On v1 the list grows when a CPU set is first asked for (the
// cpuset hierarchy is joined from then on), so open them again after such
// a Reset.
func (g *Group) ProcsFiles() ([]*os.File, error) {
	var dirs []string
	name := "cgroup.procs"
	err := g.do(func() error {
		switch impl := g.impl.(type) {
		case *v1Group:
			dirs = append(dirs, impl.dirs...)
			name = "tasks"
		case *v2Group:
			dirs = append(dirs, impl.dir)
		default:
			return fmt.Errorf("cgroup: %s: no cgroup.procs files", g.name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	files := make([]*os.File, 0, len(dirs))
	for _, d := range dirs {
		f, err := os.OpenFile(filepath.Join(d, name), os.O_WRONLY, 0) // Go opens it close-on-exec
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, fmt.Errorf("cgroup: open %s of %s: %w", name, g.name, err)
		}
		files = append(files, f)
	}
	return files, nil
}

// ErrNoJoinFDs is returned by JoinFDs where the group keeps no join
// descriptors (cgroup v2): use ProcsFiles.
var ErrNoJoinFDs = errors.New("cgroup: no kept join descriptors here")

// JoinFDs is ProcsFiles with descriptors the group owns (cgroup v1): opened
// once, ahead of need for a group from the stock (see KeepStock), and
// closed when the group is removed, so a run pays neither the opens nor the
// closes. Do not close them; do not use them once the group is removed.
func (g *Group) JoinFDs() ([]int, error) {
	var fds []int
	err := g.do(func() (err error) {
		j, ok := g.impl.(interface{ joinFDs() ([]int, error) })
		if !ok {
			return ErrNoJoinFDs
		}
		fds, err = j.joinFDs()
		return err
	})
	return fds, err
}
