package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
)

// ProcsFiles opens the group's cgroup.procs files for writing, one per
// hierarchy on v1 (one file on v2). A process that holds them can join the
// group by writing "0" to each, with the credentials they were opened with:
// a pooled container's init uses that to let each of its programs enter
// the run's group by itself, without asking the host. The caller closes
// the files. On v1 the list grows when a CPU set is first asked for (the
// cpuset hierarchy is joined from then on), so open them again after such
// a Reset.
func (g *Group) ProcsFiles() ([]*os.File, error) {
	var dirs []string
	err := g.do(func() error {
		switch impl := g.impl.(type) {
		case *v1Group:
			dirs = append(dirs, impl.dirs...)
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
		f, err := os.OpenFile(filepath.Join(d, "cgroup.procs"), os.O_WRONLY, 0)
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, fmt.Errorf("cgroup: open cgroup.procs of %s: %w", g.name, err)
		}
		files = append(files, f)
	}
	return files, nil
}
