package cgroup

// The package's API (Detect, Manager, Group, Limits, Usage) and what v1 and v2 share.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Sentinel errors; callers test them with errors.Is.
var (
	// ErrUnavailable means cgroups cannot be used here: no memory
	// controller, no permission, or a v2 tree we may not enable controllers
	// in. Callers fall back to rlimits and rusage.
	ErrUnavailable = errors.New("cgroup: unavailable")
	// ErrExist means a group of that name already exists.
	ErrExist = errors.New("cgroup: group already exists")
	// ErrRemoved means the group was removed; it can no longer be used.
	ErrRemoved = errors.New("cgroup: group removed")
	// ErrThreadMove means Group.EnterThread is not offered (v2: use FD).
	ErrThreadMove = errors.New("cgroup: moving a thread is for v1 only")
	// ErrSocketMemory means the kernel offers no way to charge a group's
	// socket buffers to it (v1 without memory.kmem.tcp.*): a box can make
	// the host hold socket memory beyond its memory limit, uncounted.
	ErrSocketMemory = errors.New("cgroup: socket buffers are not charged to groups")
)

// Mode is the cgroup hierarchy in use.
type Mode int

const (
	// V1 is the legacy hierarchy: one mount per controller (or group of
	// controllers).
	V1 Mode = 1
	// V2 is the unified hierarchy.
	V2 Mode = 2
)

func (m Mode) String() string {
	switch m {
	case V1:
		return "v1"
	case V2:
		return "v2"
	}
	return "unknown"
}

// Info describes the cgroup set-up of the host as this process sees it.
type Info struct {
	Mode Mode
	// V2Mount is where cgroup2 is mounted ("" when not mounted). On a
	// hybrid host it holds no controllers and is not used.
	V2Mount string
	// V1 maps each v1 controller to its hierarchy (empty in V2 mode).
	V1 map[string]Hierarchy
}

// Hierarchy is one mounted v1 hierarchy.
type Hierarchy struct {
	Mount string // mount point
	// Own is this process's cgroup in it, as a host path under Mount.
	Own string
}

// Accounting names where the figures come from, for sandbox.Result.
func (i Info) Accounting() string {
	if i.Mode == V2 {
		return "cgroup-v2"
	}
	return "cgroup-v1"
}

// Detect inspects the mounts and this process's cgroups. A hybrid host (v1
// controllers plus a cgroup2 mount without the memory controller) is V1. It
// returns ErrUnavailable (wrapped) when there is no usable memory controller
// or this process may not create cgroups.
func Detect() (Info, error) {
	mounts, err := cgroupMounts()
	if err != nil {
		return Info{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	own, err := ownCgroups()
	if err != nil {
		return Info{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	info := Info{V1: map[string]Hierarchy{}}
	for _, m := range mounts {
		if m.v2 {
			if info.V2Mount == "" {
				info.V2Mount = m.point
			}
			continue
		}
		path, ok := own[hierarchyKey(m.controllers)]
		if !ok {
			continue
		}
		h := Hierarchy{Mount: m.point, Own: m.point}
		if rel, ok := strings.CutPrefix(path, m.root); ok {
			h.Own = filepath.Join(m.point, rel)
		}
		for _, c := range m.controllers {
			if _, dup := info.V1[c]; !dup {
				info.V1[c] = h
			}
		}
	}
	if info.V2Mount != "" && hasWord(readString(filepath.Join(info.V2Mount, "cgroup.controllers")), "memory") {
		info.Mode = V2
		info.V1 = nil
		if err := unix.Access(info.V2Mount, unix.W_OK); err != nil {
			return info, fmt.Errorf("%w: %s not writable: %v", ErrUnavailable, info.V2Mount, err)
		}
		return info, nil
	}
	mem, ok := info.V1["memory"]
	if !ok {
		return info, fmt.Errorf("%w: no memory controller mounted", ErrUnavailable)
	}
	info.Mode = V1
	if unix.Access(mem.Own, unix.W_OK) != nil && unix.Access(mem.Mount, unix.W_OK) != nil {
		return info, fmt.Errorf("%w: %s not writable", ErrUnavailable, mem.Mount)
	}
	return info, nil
}

type mountEntry struct {
	point, root string
	v2          bool
	controllers []string // v1: the controllers (and name=) of the hierarchy, sorted as in /proc/self/cgroup
}

// cgroupMounts lists the cgroup and cgroup2 mounts of /proc/self/mountinfo.
func cgroupMounts() ([]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 {
			continue
		}
		e := mountEntry{root: unescapeMount(pf[3]), point: unescapeMount(pf[4])}
		switch qf[0] {
		case "cgroup2":
			e.v2 = true
		case "cgroup":
			for _, opt := range strings.Split(qf[2], ",") {
				if isV1Controller(opt) {
					e.controllers = append(e.controllers, opt)
				}
			}
			if len(e.controllers) == 0 {
				continue
			}
		default:
			continue
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

var v1Controllers = map[string]bool{
	"cpu": true, "cpuacct": true, "cpuset": true, "memory": true, "devices": true, "freezer": true,
	"net_cls": true, "net_prio": true, "blkio": true, "perf_event": true, "hugetlb": true, "pids": true,
	"rdma": true, "misc": true,
}

func isV1Controller(opt string) bool {
	return v1Controllers[opt] || strings.HasPrefix(opt, "name=")
}

// ownCgroups maps the controller list of each v1 hierarchy (as
// /proc/self/cgroup spells it, e.g. "cpu,cpuacct") to this process's path.
func ownCgroups() (map[string]string, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || parts[1] == "" {
			continue
		}
		out[hierarchyKey(strings.Split(parts[1], ","))] = parts[2]
	}
	return out, nil
}

// hierarchyKey names a v1 hierarchy by its sorted controller list.
func hierarchyKey(controllers []string) string {
	c := append([]string(nil), controllers...)
	slices.Sort(c)
	return strings.Join(c, ",")
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// RootName is the directory under which every group of this package lives.
const RootName = "gosandbox"

// Limits of one group. Zero Memory or Procs means no limit.
type Limits struct {
	Memory int64  // bytes of memory (swap is never allowed)
	Procs  int    // processes and threads alive at once
	CPUSet string // CPUs the group may use ("0", "0-1"); "" = all
}

// Usage is what a group consumed since it was created or last Reset.
type Usage struct {
	CPU        time.Duration
	MemoryPeak int64
	OOMKilled  bool
	ProcsPeak  int // 0 = unknown
	// MemoryLimitHit: a charge failed at the memory limit since the last
	// reset (v1 memory.failcnt, v2 the max count of memory.events), even
	// if nothing was OOM-killed: the allocation failed instead.
	MemoryLimitHit bool
	// PeakSource names the counter MemoryPeak came from: "memory.peak" (v2),
	// "memory.max_usage_in_bytes" (v1), or PeakSampled when the kernel keeps
	// no peak valid for the run and the figure is the highest usage seen by
	// the polls of Group.CPU and by this read (a lower bound).
	PeakSource string
}

// PeakSampled is Usage.PeakSource for a peak sampled from memory.current.
const PeakSampled = "sampled memory.current"

// Manager owns this package's root group and creates groups under it. It is
// safe for concurrent use.
type Manager struct {
	info  Info
	impl  managerImpl
	stock stock // see KeepStock and Group.RemoveLater
	// nosocket: the kernel command line turned socket buffer accounting
	// off (see SocketMemory).
	nosocket bool
}

type managerImpl interface {
	create(name string, l Limits) (groupImpl, error)
	close() error
}

// ReclaimMin is the smallest charge Reclaim frees: what a run of a small
// program leaves (some 300 KiB of kernel objects freed later) is below it.
const ReclaimMin = 1 << 20

type groupImpl interface {
	addProc(pid int) error
	fd() int
	enterThread() (leave func() error, err error)
	cpu() (time.Duration, error)
	samplePeak()
	usage() (Usage, error)
	reset(l Limits) error
	reclaim() error
	killAll() error
	remove() error
}

// New detects the host and makes our root group under each needed controller
// (once; it is kept when it already exists).
func New() (*Manager, error) {
	info, err := Detect()
	if err != nil {
		return nil, err
	}
	m := &Manager{info: info, nosocket: nosocketBoot(readString("/proc/cmdline"))}
	switch info.Mode {
	case V2:
		m.impl, err = newV2(info)
	default:
		m.impl, err = newV1(info)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Info is the host set-up the manager works with.
func (m *Manager) Info() Info { return m.info }

// SocketMemory reports whether a group's socket buffers count against its
// memory limit and in its peak: nil when they do (v2 always; v1 through
// memory.kmem.tcp.*), else ErrSocketMemory wrapped with what is missing.
// A kernel booted with cgroup.memory=nosocket charges them to no group, v1
// or v2, though every file is there.
func (m *Manager) SocketMemory() error {
	if m.nosocket {
		return fmt.Errorf("%w: the kernel was booted with cgroup.memory=nosocket", ErrSocketMemory)
	}
	if v1, ok := m.impl.(*v1Manager); ok && !v1.hasTCP {
		return fmt.Errorf("%w: %s has no %s (a kernel without v1 kernel memory accounting)", ErrSocketMemory, v1.memory, tcpLimitFile)
	}
	return nil
}

// nosocketBoot reports whether a kernel command line has cgroup.memory=
// with nosocket among its comma-separated options (each occurrence counts,
// as for the kernel). Arguments after "--" are init's, not the kernel's;
// double quotes group a value as the kernel's parser has them.
func nosocketBoot(cmdline string) bool {
	for _, arg := range kernelArgs(cmdline) {
		value, ok := strings.CutPrefix(arg, "cgroup.memory=")
		if !ok {
			continue
		}
		for _, opt := range strings.Split(value, ",") {
			if opt == "nosocket" {
				return true
			}
		}
	}
	return false
}

// kernelArgs splits a kernel command line into its arguments, quotes
// removed, up to a lone "--".
func kernelArgs(cmdline string) []string {
	var args []string
	var cur strings.Builder
	inQuote, inArg := false, false
	for _, r := range cmdline {
		switch {
		case r == '"':
			inQuote, inArg = !inQuote, true
		case !inQuote && (r == ' ' || r == '\t' || r == '\n'):
			if inArg {
				if cur.String() == "--" {
					return args
				}
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if inArg && cur.String() != "--" {
		args = append(args, cur.String())
	}
	return args
}

// Create makes a new group with limits l. Memory is capped without swap and
// the kernel's OOM killer acts inside the group. A name that exists already
// is an error (ErrExist): two runs never share a group by accident.
func (m *Manager) Create(name string, l Limits) (*Group, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	if g, ok := m.takeStocked(l); ok {
		return &Group{name: g.name, impl: g.impl, m: m}, nil
	}
	impl, err := m.impl.create(name, l)
	if err != nil {
		return nil, err
	}
	return &Group{name: name, impl: impl, m: m}, nil
}

// Close empties and turns off the stock (see KeepStock), waits for the
// removals queued by Group.RemoveLater, then removes our root groups when
// no group is left in them (groups of other managers, in this or another
// process, keep them alive). Groups created by m should be removed first.
// The manager stays usable: a later Create makes the roots again.
func (m *Manager) Close() error {
	stockErr := m.drainStock()
	return errors.Join(stockErr, m.impl.close())
}

func validName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00\n") || len(name) > 200 {
		return fmt.Errorf("cgroup: invalid group name %q", name)
	}
	return nil
}

// Group is one cgroup for one run (or one pooled box). Its methods are safe
// for concurrent use.
type Group struct {
	name    string
	m       *Manager // nil for groups not made by a Manager
	mu      sync.Mutex
	removed bool
	impl    groupImpl
}

// Name is the name of the group's directory: the one given to Create, or
// the stock name of a group taken from the stock (see KeepStock).
func (g *Group) Name() string { return g.name }

func (g *Group) do(f func() error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.removed {
		return ErrRemoved
	}
	return f()
}

// Preopen opens ahead, and keeps with the group, the files each run reads
// (its counters) and each Reset writes, for a group that serves many runs
// (a pooled container): a run then pays one system call for each instead
// of an open, the I/O and a close, which cost some 5 µs apiece on a
// paravirtualised host. Stocked groups come with them open already (see
// KeepStock). It does nothing where the hierarchy has no such files.
func (g *Group) Preopen() {
	g.do(func() error {
		if p, ok := g.impl.(interface{ preopen() }); ok {
			p.preopen()
		}
		return nil
	})
}

// AddProc moves process pid (all its threads) into the group.
func (g *Group) AddProc(pid int) error {
	return g.do(func() error { return g.impl.addProc(pid) })
}

// FD is a descriptor of the group's directory for clone3's CLONE_INTO_CGROUP
// (v2); 0 on v1 or after Remove. The group owns it.
func (g *Group) FD() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.removed {
		return 0
	}
	return g.impl.fd()
}

// EnterThread (v1) moves the calling OS thread alone into the group, so
// that a child it clones is born in the group, as clone3's
// CLONE_INTO_CGROUP does on v2 (where it returns ErrThreadMove): the child
// can then take a cgroup namespace at clone time, and nobody has to move it
// afterwards. leave moves the thread back to this process's own cgroups.
// The caller must hold the thread (runtime.LockOSThread) from EnterThread
// until leave returned nil, and should do nothing in between but clone:
// what the thread spends meanwhile (CPU time, kernel memory such as the
// child's copy of the page tables) is charged to the group. The process
// limit gets one of headroom for the thread until leave.
func (g *Group) EnterThread() (leave func() error, err error) {
	err = g.do(func() (err error) { leave, err = g.impl.enterThread(); return err })
	return leave, err
}

// CPU is the CPU time of every process and thread in the group since the
// group was created or reset. It is cheap enough to poll, and supervisors
// should poll it while a run lasts: where the kernel keeps no peak memory
// figure valid for the run (v2 before 5.19, or a reset group before 6.12),
// each call also samples the group's memory usage, and Usage reports the
// highest sample, since the program has freed its memory by the time Usage
// is read.
func (g *Group) CPU() (time.Duration, error) {
	var d time.Duration
	err := g.do(func() (err error) {
		d, err = g.impl.cpu()
		g.impl.samplePeak()
		return err
	})
	return d, err
}

// Usage reports CPU, peak memory, OOM kills and peak processes.
func (g *Group) Usage() (Usage, error) {
	var u Usage
	err := g.do(func() (err error) { u, err = g.impl.usage(); return err })
	return u, err
}

// Reset prepares the group for the next run of a pooled box: peak counters
// are reset where the kernel allows it (baselined otherwise), the sampled
// memory peak cleared, the OOM count baselined, and the limits set to l.
func (g *Group) Reset(l Limits) error {
	return g.do(func() error { return g.impl.reset(l) })
}

// Reclaim frees what the group's memory charge still holds once its
// processes are gone (page cache of files they read, kernel objects), so
// that a Reset after it starts the next run's peak near zero instead of at
// the last run's cache (U4). The group must be empty. Page cache it drops
// is read again from disk by whoever needs it next. A charge below
// ReclaimMin is left alone: reclaiming it took 0.3-0.5 ms on a v1 host, a
// tenth of a small run, on the path of the next run, while the next run's
// peak starts at most that far above zero.
func (g *Group) Reclaim() error {
	return g.do(func() error { return g.impl.reclaim() })
}

// KillAll kills every process in the group with SIGKILL, stopped and frozen
// ones included, and waits (bounded) until none is left.
func (g *Group) KillAll() error {
	return g.do(func() error { return g.impl.killAll() })
}

// Remove kills what is left in the group and deletes it, retrying while the
// kernel drains it. It is idempotent. Reap the group's processes first where
// you can: an unreaped zombie can keep a group busy.
func (g *Group) Remove() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.removed {
		return nil
	}
	if err := g.impl.remove(); err != nil {
		return err
	}
	g.removed = true
	return nil
}

// Bounds of the waits in KillAll and Remove. They are not timing
// expectations: draining usually takes microseconds, and the bound only
// turns a stuck group into an error instead of a hang.
const (
	drainTimeout  = 5 * time.Second
	firstBackoff  = 20 * time.Microsecond
	maxBackoff    = 10 * time.Millisecond
	killBatchSize = 64
)

// self is this process's pid, never signalled by the kills here.
var self = os.Getpid()

// retry calls f until it returns done or the drain timeout passes.
func retry(f func() (done bool, err error)) error {
	deadline := time.Now().Add(drainTimeout)
	backoff := firstBackoff
	for {
		done, err := f()
		if done {
			return err
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, maxBackoff)
	}
}

// rmdirRetry removes a cgroup directory, retrying while it is busy. While it
// is busy, whatever process it still lists is killed: a process may sit in
// one v1 hierarchy only, when an AddProc failed half-way.
func rmdirRetry(dir string) error {
	return retry(func() (bool, error) {
		err := unix.Rmdir(dir)
		switch {
		case err == nil || err == unix.ENOENT:
			return true, nil
		case err == unix.EBUSY || err == unix.EAGAIN:
			pids, _ := readPids(filepath.Join(dir, "cgroup.procs"))
			for _, pid := range pids {
				if pid != self {
					unix.Kill(pid, unix.SIGKILL)
				}
			}
			return false, fmt.Errorf("cgroup: remove %s: %w", dir, err)
		default:
			return true, fmt.Errorf("cgroup: remove %s: %w", dir, err)
		}
	})
}

// killProcs sends SIGKILL to every pid in a cgroup.procs file until it
// reads empty. On v1 (no cgroup.kill) a pid could in theory be reused
// between the read and the kill; with pids cycled through the whole pid
// space that window is microseconds against hours.
func killProcs(procsFile string) error {
	return retry(func() (bool, error) {
		pids, err := readPids(procsFile)
		if err != nil {
			return true, fmt.Errorf("cgroup: list processes: %w", err)
		}
		// A thread of ours may sit in the group for a moment (EnterThread):
		// never signal ourselves.
		pids = slices.DeleteFunc(pids, func(p int) bool { return p == self })
		if len(pids) == 0 {
			return true, nil
		}
		for _, pid := range pids {
			unix.Kill(pid, unix.SIGKILL)
		}
		return false, fmt.Errorf("cgroup: %d processes still in %s", len(pids), filepath.Dir(procsFile))
	})
}

// File helpers. cgroupfs files are small; they are read and written with
// plain system calls to keep the per-run path short.

// writeSeen, when set (by tests only), is told of every write.
var writeSeen func(path string)

func writeFile(path, value string) error {
	if writeSeen != nil {
		writeSeen(path)
	}
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_, err = unix.Write(fd, []byte(value))
	return err
}

func readFile(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return readAll(fd, 0)
}

// readCounter reads a cgroup control file that holds one value or a few
// lines (memory.peak, cpuacct.usage, memory.oom_control, a keyed list),
// opened ahead: the kernel makes such a file whole at the first read (one
// seq_file record), so a read shorter than asked is all of it, and the
// pread that would only find the end (making the file again) is saved: a
// run reads up to eight of these after its program ended, before its
// result.
func readCounter(fd int) ([]byte, error) {
	buf := make([]byte, 4096)
	for {
		n, err := unix.Pread(fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n < len(buf) {
			return buf[:n], nil
		}
		return readAll(fd, 0)
	}
}

// readAll reads fd from offset off to the end with pread.
func readAll(fd int, off int64) ([]byte, error) {
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, cap(buf))...)[:len(buf)]
		}
		n, err := unix.Pread(fd, buf[len(buf):cap(buf)], off+int64(len(buf)))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

func readString(path string) string {
	b, _ := readFile(path)
	return strings.TrimSpace(string(b))
}

func readInt(path string) (int64, error) {
	b, err := readFile(path)
	if err != nil {
		return 0, err
	}
	return parseInt(b)
}

func parseInt(b []byte) (int64, error) {
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return -1, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

// keyedInt finds "key value" in a flat keyed file (memory.events, cpu.stat,
// memory.oom_control).
func keyedInt(b []byte, key string) (int64, bool) {
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func readPids(path string) ([]int, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}

func exists(path string) bool {
	return unix.Access(path, unix.F_OK) == nil
}

func mkdirGroup(dir, name string) error {
	err := unix.Mkdir(dir, 0o755)
	switch {
	case err == nil:
		return nil
	case err == unix.EEXIST:
		return fmt.Errorf("%w: %q (%s)", ErrExist, name, dir)
	default:
		return fmt.Errorf("cgroup: create %s: %w", dir, err)
	}
}

// limitString is a limit as cgroupfs takes it: n, or "max" for none.
func limitString(n int64, none string) string {
	if n <= 0 {
		return none
	}
	return strconv.FormatInt(n, 10)
}
