package cgroup

// cgroup v1: one directory per hierarchy (memory, cpuacct, pids, cpuset).

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// v1Manager keeps our root directory in each hierarchy we use.
type v1Manager struct {
	memory, pids, cpuacct string // root dirs; pids and cpuacct may be ""
	cpuset                string // root dir, "" when the controller is absent
	hasMemsw              bool   // memory.memsw.* exist (swap accounting on)
	hasOOMKill            bool   // memory.oom_control reports oom_kill (4.13+)
	hasPidsPeak           bool
	// hasTCP: memory.kmem.tcp.* exist. v1 charges socket buffers (TCP,
	// and UDP with them) to a group only once its tcp limit has been
	// written, and to a counter of their own, apart from
	// memory.usage_in_bytes: without it a box holds socket memory
	// unbounded and unreported.
	hasTCP bool
	home   map[string]string // root dir -> this process's own cgroup in that hierarchy
}

func newV1(info Info) (*v1Manager, error) {
	m := &v1Manager{home: map[string]string{}}
	var err error
	if m.memory, err = v1Root(info, "memory"); err != nil {
		return nil, err
	}
	if _, ok := info.V1["pids"]; ok {
		if m.pids, err = v1Root(info, "pids"); err != nil {
			return nil, err
		}
	}
	if _, ok := info.V1["cpuacct"]; ok {
		if m.cpuacct, err = v1Root(info, "cpuacct"); err != nil {
			return nil, err
		}
	}
	if _, ok := info.V1["cpuset"]; ok {
		if m.cpuset, err = v1Root(info, "cpuset"); err != nil {
			return nil, err
		}
		if err := inheritCpuset(m.cpuset); err != nil {
			return nil, err
		}
	}
	// New memory cgroups copy these from their parent: the OOM killer acts
	// (a disabled killer would leave the box hanging at its limit), and no
	// anonymous memory goes to swap where swap exists but is not accounted.
	if err := writeFile(filepath.Join(m.memory, "memory.oom_control"), "0"); err != nil {
		return nil, fmt.Errorf("cgroup: enable the OOM killer in %s: %w", m.memory, err)
	}
	_ = writeFile(filepath.Join(m.memory, "memory.swappiness"), "0")
	m.hasMemsw = exists(filepath.Join(m.memory, "memory.memsw.limit_in_bytes"))
	oc, _ := readFile(filepath.Join(m.memory, "memory.oom_control"))
	_, m.hasOOMKill = keyedInt(oc, "oom_kill")
	m.hasPidsPeak = m.pids != "" && exists(filepath.Join(m.pids, "pids.peak"))
	m.hasTCP = exists(filepath.Join(m.memory, tcpLimitFile))
	for c, root := range map[string]string{"memory": m.memory, "pids": m.pids, "cpuacct": m.cpuacct, "cpuset": m.cpuset} {
		if root != "" {
			m.home[root] = info.V1[c].Own
		}
	}
	return m, nil
}

// remakeRoot makes root again, set up as newV1 does.
func (m *v1Manager) remakeRoot(root string) error {
	if err := unix.Mkdir(root, 0o755); err != nil && err != unix.EEXIST {
		return fmt.Errorf("cgroup: create %s: %w", root, err)
	}
	switch root {
	case m.cpuset:
		return inheritCpuset(root)
	case m.memory:
		if err := writeFile(filepath.Join(root, "memory.oom_control"), "0"); err != nil {
			return fmt.Errorf("cgroup: enable the OOM killer in %s: %w", root, err)
		}
		_ = writeFile(filepath.Join(root, "memory.swappiness"), "0")
	}
	return nil
}

// v1Root makes our root in the hierarchy of controller: nested in this
// process's own cgroup when we may write there (so limits set on us also
// bound the boxes), else at the top of the hierarchy.
func v1Root(info Info, controller string) (string, error) {
	h := info.V1[controller]
	parent := h.Own
	if unix.Access(parent, unix.W_OK) != nil {
		parent = h.Mount
	}
	root := filepath.Join(parent, RootName)
	if err := unix.Mkdir(root, 0o755); err != nil && err != unix.EEXIST {
		if err == unix.EACCES || err == unix.EPERM || err == unix.EROFS {
			return "", fmt.Errorf("%w: create %s: %v", ErrUnavailable, root, err)
		}
		return "", fmt.Errorf("cgroup: create %s: %w", root, err)
	}
	return root, nil
}

// inheritCpuset fills an empty cpuset group from its parent: v1 refuses tasks
// in a cpuset without CPUs or memory nodes.
func inheritCpuset(dir string) error {
	for _, f := range []string{"cpuset.mems", "cpuset.cpus"} {
		if readString(filepath.Join(dir, f)) != "" {
			continue
		}
		v := readString(filepath.Join(filepath.Dir(dir), f))
		if err := writeFile(filepath.Join(dir, f), v); err != nil {
			return fmt.Errorf("cgroup: set %s of %s to %q: %w", f, dir, v, err)
		}
	}
	return nil
}

func (m *v1Manager) close() error {
	var errs []error
	for _, root := range []string{m.cpuset, m.cpuacct, m.pids, m.memory} {
		if root == "" {
			continue
		}
		if err := unix.Rmdir(root); err != nil && err != unix.ENOENT && err != unix.EBUSY {
			errs = append(errs, fmt.Errorf("cgroup: remove root %s: %w", root, err))
		}
	}
	return errors.Join(errs...)
}

type v1Group struct {
	m                     *v1Manager
	name                  string
	memory, pids, cpuacct string // group dirs ("" when the controller is absent)
	cpuset                string // "" until a CPUSet is asked for
	dirs                  []string
	homes                 []string // for each of dirs, this process's own cgroup in that hierarchy
	procs                 int      // the process limit (0 = none)
	// open holds descriptors of the group's files opened ahead (preopen):
	// counters read with pread, tasks files written to join. They are
	// closed with the group.
	open          map[string]int
	oomBase       int64 // oom_kill count at the last reset
	pidsPeakStale bool  // pids.peak covers an earlier run
	// The limits as last written whole, so that a Reset to the same
	// limits (a pooled box between runs) skips the writes, each a trip
	// through the memory controller's locks. memSet covers the memory,
	// memory+swap and socket buffer limits together; a write that failed,
	// or anything that may have left a limit elsewhere (reclaim, the
	// headroom of enterThread), forgets the value, so the next set
	// writes again.
	memSet, pidsSet limitState
}

// limitState is a limit as last written to a group: known only once every
// write of it succeeded.
type limitState struct {
	known bool
	value string // as written: limitString's form
}

func (s limitState) is(v string) bool { return s.known && s.value == v }

func (m *v1Manager) create(name string, l Limits) (groupImpl, error) {
	g := &v1Group{m: m, name: name}
	if err := g.mkdir(&g.memory, m.memory); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			g.rmdirs()
		}
	}()
	if m.pids != "" {
		if err := g.mkdir(&g.pids, m.pids); err != nil {
			return nil, err
		}
	}
	if m.cpuacct != "" {
		if err := g.mkdir(&g.cpuacct, m.cpuacct); err != nil {
			return nil, err
		}
	}
	if err := g.setLimits(l); err != nil {
		return nil, err
	}
	ok = true
	return g, nil
}

// mkdir creates the group in one hierarchy. Hierarchies may be co-mounted
// (cpu,cpuacct), so a directory made already is reused.
func (g *v1Group) mkdir(dst *string, root string) error {
	dir := filepath.Join(root, g.name)
	for _, d := range g.dirs {
		if d == dir {
			*dst = dir
			return nil
		}
	}
	err := mkdirGroup(dir, g.name)
	// Another manager's Close may have removed an empty root meanwhile.
	for try := 0; errors.Is(err, unix.ENOENT) && try < 3; try++ {
		if err = g.m.remakeRoot(root); err == nil {
			err = mkdirGroup(dir, g.name)
		}
	}
	if err != nil {
		return err
	}
	*dst = dir
	g.dirs = append(g.dirs, dir)
	g.homes = append(g.homes, g.m.home[root])
	return nil
}

func (g *v1Group) setLimits(l Limits) error {
	if err := g.setMemory(l.Memory); err != nil {
		return err
	}
	if l.Procs > 0 && g.pids == "" {
		return fmt.Errorf("cgroup: process limit %d: no pids controller", l.Procs)
	}
	if v := limitString(int64(l.Procs), "max"); g.pids != "" && !g.pidsSet.is(v) {
		g.pidsSet = limitState{}
		if err := writeFile(filepath.Join(g.pids, "pids.max"), v); err != nil {
			return fmt.Errorf("cgroup: set pids.max of %s: %w", g.name, err)
		}
		g.procs = max(l.Procs, 0)
		g.pidsSet = limitState{known: true, value: v}
	}
	return g.setCPUSet(l.CPUSet)
}

// The v1 files of socket buffer memory (memory.kmem.tcp.*). Despite the
// name they count every socket whose protocol keeps memory accounts (TCP,
// UDP, SCTP): the kernel charges them to the group's tcp counter once that
// has a limit, and to nothing before.
const (
	tcpLimitFile   = "memory.kmem.tcp.limit_in_bytes"
	tcpMaxFile     = "memory.kmem.tcp.max_usage_in_bytes"
	tcpFailcntFile = "memory.kmem.tcp.failcnt"
)

// setMemory sets the memory limit and the memory+swap limit to the same
// value, so the box gets no swap. memsw may never be below the memory limit,
// so the order of the two writes depends on the direction of the change.
// Socket buffers get a limit of the same value of their own (see
// setSocketMemory).
func (g *v1Group) setMemory(limit int64) error {
	v := limitString(limit, "-1")
	if g.memSet.is(v) {
		return nil
	}
	g.memSet = limitState{}
	if err := g.setSocketMemory(limit); err != nil {
		return err
	}
	if err := g.setUserMemory(limit); err != nil {
		return err
	}
	g.memSet = limitState{known: true, value: v}
	return nil
}

// setSocketMemory bounds the group's socket buffers at limit. The write
// also makes the kernel account them to the group at all (v1 charges no
// socket made before its group's first tcp limit), so it comes before any
// process joins. They have a counter of their own, apart from the memory
// limit's: together a box holds at most twice its limit, plus the one
// packet per TCP socket the kernel lets through past any limit (a forced
// charge, so that no connection stalls for good), and its peak (usage)
// counts both.
func (g *v1Group) setSocketMemory(limit int64) error {
	if !g.m.hasTCP {
		return nil
	}
	if err := writeFile(filepath.Join(g.memory, tcpLimitFile), limitString(limit, "-1")); err != nil {
		return fmt.Errorf("cgroup: bound the socket buffers of %s (%s): %w", g.name, tcpLimitFile, err)
	}
	return nil
}

func (g *v1Group) setUserMemory(limit int64) error {
	v := limitString(limit, "-1")
	mem := filepath.Join(g.memory, "memory.limit_in_bytes")
	if !g.m.hasMemsw {
		if err := writeFile(mem, v); err != nil {
			return fmt.Errorf("cgroup: set memory limit of %s: %w", g.name, err)
		}
		return nil
	}
	memsw := filepath.Join(g.memory, "memory.memsw.limit_in_bytes")
	first, second := mem, memsw
	if err := writeFile(first, v); err == unix.EINVAL {
		// Raising the limit above the current memsw limit: memsw first.
		first, second = memsw, mem
		if err := writeFile(first, v); err != nil {
			return fmt.Errorf("cgroup: set memory+swap limit of %s: %w", g.name, err)
		}
	} else if err != nil {
		return fmt.Errorf("cgroup: set memory limit of %s: %w", g.name, err)
	}
	if err := writeFile(second, v); err != nil {
		return fmt.Errorf("cgroup: set %s of %s: %w", filepath.Base(second), g.name, err)
	}
	return nil
}

func (g *v1Group) setCPUSet(cpus string) error {
	if cpus == "" && g.cpuset == "" {
		return nil
	}
	if g.m.cpuset == "" {
		return fmt.Errorf("cgroup: cpu set %q: no cpuset controller", cpus)
	}
	if g.cpuset == "" {
		if err := g.mkdir(&g.cpuset, g.m.cpuset); err != nil {
			return err
		}
		// The root may be one that another process is remaking (see mkdir)
		// and has not filled yet: a child's CPUs must be a subset of it.
		if err := inheritCpuset(g.m.cpuset); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(g.cpuset, "cpuset.mems"), readString(filepath.Join(g.m.cpuset, "cpuset.mems"))); err != nil {
			return fmt.Errorf("cgroup: set cpuset.mems of %s: %w", g.name, err)
		}
	}
	if cpus == "" {
		cpus = readString(filepath.Join(g.m.cpuset, "cpuset.cpus"))
	}
	if err := writeFile(filepath.Join(g.cpuset, "cpuset.cpus"), cpus); err != nil {
		return fmt.Errorf("cgroup: set cpuset.cpus of %s to %q: %w", g.name, cpus, err)
	}
	return nil
}

func (g *v1Group) addProc(pid int) error {
	p := strconv.Itoa(pid)
	for _, d := range g.dirs {
		if err := writeFile(filepath.Join(d, "cgroup.procs"), p); err != nil {
			return fmt.Errorf("cgroup: add process %d to %s: %w", pid, d, err)
		}
	}
	return nil
}

func (g *v1Group) fd() int { return 0 }

// enterThread moves the calling thread (only it) into every hierarchy of
// the group. Writing "0" to tasks moves the writer itself, which the kernel
// does without the process-wide lock that moving a process by pid takes.
// The thread counts against pids.max while it is in: the limit gets one of
// headroom until leave.
func (g *v1Group) enterThread() (leave func() error, err error) {
	if g.pids != "" && g.procs > 0 {
		// pids.max is procs+1 until leave has put it back.
		g.pidsSet = limitState{}
		if err := writeFile(filepath.Join(g.pids, "pids.max"), strconv.Itoa(g.procs+1)); err != nil {
			return nil, fmt.Errorf("cgroup: pids.max headroom of %s: %w", g.name, err)
		}
	}
	entered := 0
	leave = func() error {
		var errs []error
		for i := entered - 1; i >= 0; i-- {
			if err := writeFile(filepath.Join(g.homes[i], "tasks"), "0"); err != nil {
				errs = append(errs, fmt.Errorf("cgroup: thread back to %s: %w", g.homes[i], err))
			}
		}
		if g.pids != "" && g.procs > 0 {
			if err := writeFile(filepath.Join(g.pids, "pids.max"), strconv.Itoa(g.procs)); err != nil {
				errs = append(errs, fmt.Errorf("cgroup: restore pids.max of %s: %w", g.name, err))
			} else {
				g.pidsSet = limitState{known: true, value: strconv.Itoa(g.procs)}
			}
		}
		return errors.Join(errs...)
	}
	for _, d := range g.dirs {
		if err := writeFile(filepath.Join(d, "tasks"), "0"); err != nil {
			err = fmt.Errorf("cgroup: move thread into %s: %w", d, err)
			return nil, errors.Join(err, leave())
		}
		entered++
	}
	return leave, nil
}

func (g *v1Group) cpu() (time.Duration, error) {
	if g.cpuacct == "" {
		return 0, fmt.Errorf("cgroup: cpu usage of %s: no cpuacct controller", g.name)
	}
	ns, err := g.readInt(filepath.Join(g.cpuacct, "cpuacct.usage"))
	if err != nil {
		return 0, fmt.Errorf("cgroup: cpu usage of %s: %w", g.name, err)
	}
	return time.Duration(ns), nil
}

// samplePeak has nothing to do: memory.max_usage_in_bytes is exact and
// reset by Reset.
func (g *v1Group) samplePeak() {}

func (g *v1Group) usage() (Usage, error) {
	var u Usage
	var err error
	if g.cpuacct != "" {
		if u.CPU, err = g.cpu(); err != nil {
			return u, err
		}
	}
	if u.MemoryPeak, err = g.readInt(filepath.Join(g.memory, "memory.max_usage_in_bytes")); err != nil {
		return u, fmt.Errorf("cgroup: peak memory of %s: %w", g.name, err)
	}
	if g.m.hasTCP {
		// The two peaks need not have come at once: their sum bounds the
		// true peak from above, by at most the smaller of them.
		tcp, err := g.readInt(filepath.Join(g.memory, tcpMaxFile))
		if err != nil {
			return u, fmt.Errorf("cgroup: peak socket memory of %s: %w", g.name, err)
		}
		u.MemoryPeak += tcp
	}
	u.PeakSource = "memory.max_usage_in_bytes"
	if u.OOMKilled, err = g.oomKilled(); err != nil {
		return u, err
	}
	u.MemoryLimitHit = g.limitHit()
	if g.m.hasPidsPeak && !g.pidsPeakStale {
		n, err := g.readInt(filepath.Join(g.pids, "pids.peak"))
		if err != nil {
			return u, fmt.Errorf("cgroup: peak processes of %s: %w", g.name, err)
		}
		u.ProcsPeak = int(n)
	}
	return u, nil
}

// oomKilled reports whether the kernel OOM-killed a process in the group
// since the last reset. Kernels before 4.13 have no oom_kill counter; there
// a failed charge at the limit (failcnt) stands in.
func (g *v1Group) oomKilled() (bool, error) {
	if g.m.hasOOMKill {
		n, err := g.oomCount()
		return n > g.oomBase, err
	}
	n, err := g.readInt(filepath.Join(g.memory, "memory.failcnt"))
	if err != nil {
		return false, fmt.Errorf("cgroup: memory.failcnt of %s: %w", g.name, err)
	}
	return n > 0, nil
}

// limitHit reports a charge that failed at the memory limit since the last
// reset. With swap accounting the memory+swap counter is tried first, so
// its failures are counted there.
func (g *v1Group) limitHit() bool {
	files := []string{"memory.failcnt"}
	if g.m.hasMemsw {
		files = append(files, "memory.memsw.failcnt")
	}
	if g.m.hasTCP {
		files = append(files, tcpFailcntFile)
	}
	for _, f := range files {
		if n, err := g.readInt(filepath.Join(g.memory, f)); err == nil && n > 0 {
			return true
		}
	}
	return false
}

func (g *v1Group) oomCount() (int64, error) {
	b, err := g.readFile(filepath.Join(g.memory, "memory.oom_control"))
	if err != nil {
		return 0, fmt.Errorf("cgroup: memory.oom_control of %s: %w", g.name, err)
	}
	n, _ := keyedInt(b, "oom_kill")
	return n, nil
}

func (g *v1Group) reset(l Limits) error {
	// Writing 0 resets the peak to the current usage and the CPU counter to
	// zero; the OOM kill counter cannot be reset, so it is baselined.
	if err := g.writeFile(filepath.Join(g.memory, "memory.max_usage_in_bytes"), "0"); err != nil {
		return fmt.Errorf("cgroup: reset peak memory of %s: %w", g.name, err)
	}
	_ = g.writeFile(filepath.Join(g.memory, "memory.failcnt"), "0")
	if g.m.hasMemsw {
		_ = g.writeFile(filepath.Join(g.memory, "memory.memsw.failcnt"), "0")
	}
	if g.m.hasTCP {
		if err := g.writeFile(filepath.Join(g.memory, tcpMaxFile), "0"); err != nil {
			return fmt.Errorf("cgroup: reset peak socket memory of %s: %w", g.name, err)
		}
		_ = g.writeFile(filepath.Join(g.memory, tcpFailcntFile), "0")
	}
	if g.cpuacct != "" {
		if err := g.writeFile(filepath.Join(g.cpuacct, "cpuacct.usage"), "0"); err != nil {
			return fmt.Errorf("cgroup: reset cpu usage of %s: %w", g.name, err)
		}
	}
	if g.m.hasOOMKill {
		n, err := g.oomCount()
		if err != nil {
			return err
		}
		g.oomBase = n
	}
	// pids.peak cannot be reset: from now on it would describe an earlier
	// run, so it is reported as unknown.
	g.pidsPeakStale = true
	return g.setLimits(l)
}

// reclaim empties, once it reaches ReclaimMin, what can be reclaimed of the
// group's charge (a group without tasks, between runs): the memory limit is
// lowered to 0, which has the writer reclaim until nothing more comes free
// (EBUSY when kernel memory that cannot be reclaimed stays charged), and put
// back. Not force_empty:
// before Linux 5.16 it sleeps 100 ms after each of 16 rounds that free
// nothing, so with any unreclaimable charge left every reset took 1.6 s
// (measured 2.4 s on Debian 11's 5.10 under emulation, against 0.55 s).
func (g *v1Group) reclaim() error {
	cur, err := g.readInt(filepath.Join(g.memory, "memory.usage_in_bytes"))
	if err != nil {
		return fmt.Errorf("cgroup: memory.usage_in_bytes of %s: %w", g.name, err)
	}
	if cur < ReclaimMin {
		return nil
	}
	limit := filepath.Join(g.memory, "memory.limit_in_bytes")
	old := readString(limit)
	if old == "" {
		return fmt.Errorf("cgroup: reclaim the memory of %s: no memory limit to lower", g.name)
	}
	// The limit is 0 until it is written back: forgotten unless that
	// write succeeds.
	memSet := g.memSet
	g.memSet = limitState{}
	err = writeFile(limit, "0")
	if err == nil {
		// All of it came free: the limit is 0 now.
		err = writeFile(limit, old)
	} else if errors.Is(err, unix.EBUSY) {
		// The limit stayed as it was. What the lowered limit could not
		// free is mostly page cache just read on another CPU: its pages
		// wait in that CPU's batch for the LRU lists, where reclaim does
		// not see them (large folios: up to ~21 MiB after a big read
		// here). force_empty drains every CPU's batch first.
		err = writeFile(filepath.Join(g.memory, "memory.force_empty"), "0")
	}
	if err != nil {
		return fmt.Errorf("cgroup: reclaim the memory of %s: %w", g.name, err)
	}
	g.memSet = memSet
	return nil
}

func (g *v1Group) killAll() error {
	// Every hierarchy holds the same processes; the memory one always exists.
	return killProcs(filepath.Join(g.memory, "cgroup.procs"))
}

func (g *v1Group) remove() error {
	killErr := g.killAll()
	if err := g.rmdirs(); err != nil {
		return errors.Join(killErr, err)
	}
	return nil
}

// preopen opens ahead (in the stock's background work) the files a run
// reads or writes: the counters Usage reads and the tasks files a child
// joins through, so that a run pays a pread or a write for each instead of
// an open, the I/O and a close.
func (g *v1Group) preopen() {
	if g.open == nil {
		g.open = map[string]int{}
	}
	files := []string{filepath.Join(g.memory, "memory.max_usage_in_bytes"), filepath.Join(g.memory, "memory.failcnt"),
		filepath.Join(g.memory, "memory.usage_in_bytes")}
	if g.m.hasOOMKill {
		files = append(files, filepath.Join(g.memory, "memory.oom_control"))
	}
	if g.m.hasMemsw {
		files = append(files, filepath.Join(g.memory, "memory.memsw.failcnt"))
	}
	if g.m.hasTCP {
		files = append(files, filepath.Join(g.memory, tcpMaxFile), filepath.Join(g.memory, tcpFailcntFile))
	}
	if g.cpuacct != "" {
		files = append(files, filepath.Join(g.cpuacct, "cpuacct.usage"))
	}
	if g.m.hasPidsPeak {
		files = append(files, filepath.Join(g.pids, "pids.peak"))
	}
	for _, f := range files {
		if _, ok := g.open[f]; ok {
			continue // opened ahead already (a group from the stock)
		}
		// Read and write: the counters a run reads are the ones the
		// reset after it zeroes (see writeFile).
		fd, err := unix.Open(f, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			fd, err = unix.Open(f, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		}
		if err == nil {
			g.open[f] = fd
		}
	}
	g.joinFDs()
}

// writeFile writes one of the group's files, through its descriptor opened
// ahead if there is one that can be written: one system call instead of
// three, for the counters every reset of a pooled box zeroes.
func (g *v1Group) writeFile(path, value string) error {
	fd, ok := g.open[path]
	if !ok {
		return writeFile(path, value)
	}
	if writeSeen != nil {
		writeSeen(path)
	}
	for {
		_, err := unix.Pwrite(fd, []byte(value), 0)
		if err == unix.EBADF {
			// Opened read-only (preopen's fallback).
			return writeFile(path, value)
		}
		if err != unix.EINTR {
			return err
		}
	}
}

// joinFDs returns descriptors of the tasks file of each of the group's
// hierarchies, opened for writing and kept with the group.
func (g *v1Group) joinFDs() ([]int, error) {
	if g.open == nil {
		g.open = map[string]int{}
	}
	fds := make([]int, 0, len(g.dirs))
	for _, d := range g.dirs {
		name := filepath.Join(d, "tasks")
		fd, ok := g.open[name]
		if !ok {
			var err error
			if fd, err = unix.Open(name, unix.O_WRONLY|unix.O_CLOEXEC, 0); err != nil {
				return nil, fmt.Errorf("cgroup: open tasks of %s: %w", g.name, err)
			}
			g.open[name] = fd
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// readFile reads one of the group's files, through its descriptor opened
// ahead if there is one.
func (g *v1Group) readFile(path string) ([]byte, error) {
	if fd, ok := g.open[path]; ok {
		return readCounter(fd)
	}
	return readFile(path)
}

func (g *v1Group) readInt(path string) (int64, error) {
	b, err := g.readFile(path)
	if err != nil {
		return 0, err
	}
	return parseInt(b)
}

func (g *v1Group) closeFiles() {
	for _, fd := range g.open {
		unix.Close(fd)
	}
	g.open = nil
}

func (g *v1Group) rmdirs() error {
	g.closeFiles()
	var errs []error
	for _, d := range g.dirs {
		if err := rmdirRetry(d); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	g.dirs = nil
	return nil
}
