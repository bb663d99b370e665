package slots

// The Runner and its slots: building, handing out, rebuilding and closing them; reservations and stats.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
	"gosandbox/sandbox/cgroup"
	"gosandbox/sandbox/forkexec"
	"gosandbox/sandbox/hostid"
	"gosandbox/sandbox/internal/mqueue"
	"gosandbox/sandbox/internal/release"
	"gosandbox/sandbox/mount"
	"gosandbox/sandbox/unixsocket"
	"gosandbox/sandbox/workdir"
)

// BackendName is what Result.Backend says for runs of this package.
const BackendName = "slots"

// DefaultCPUPoll is how often the supervisor reads the box's CPU total.
const DefaultCPUPoll = 10 * time.Millisecond

// namePrefix starts the names of this package's cgroups and work
// directories, followed by the supervisor's pid.
const namePrefix = "slots-"

// backgroundDefer is how long the runner's background work (stock refills,
// teardowns of earlier runs) waits for a run's program to start when runs
// keep coming: it is started while a program runs (the supervisor then
// idle), so that it does not compete with the start of the next run when
// runs come back to back, and this long after the last run otherwise. A
// run that starts this long or longer after the last one ended (and beside
// no other) finds the runner idle and starts the work once its result is
// made instead (see box.busy).
const backgroundDefer = 2 * time.Millisecond

// ErrClosed is returned by Run once the Runner is closed.
var ErrClosed = errors.New("slots: runner closed")

// Options configure a Runner.
type Options struct {
	// Size is the number of slots (default 1): at most that many runs at
	// once; more wait for a free slot.
	Size int
	// WorkRoot is where the work directories of runs with copies are made;
	// "" takes the workdir package's default.
	WorkRoot string
	// NoCgroups skips cgroups even where they work.
	NoCgroups bool
	// CPUPoll is the period of the CPU-limit check; 0 means DefaultCPUPoll.
	CPUPoll time.Duration
	// Warm keeps more ready in each idle slot: two sets of run namespaces
	// (network and IPC) instead of one, and, where pid 1 lives apart, the
	// next run's pid 1 started ahead, asleep in its fresh pid namespace.
	// Runs that arrive apart then start nothing beside their program and
	// skip pid 1's start (some 70 us here); an idle slot costs a sleeping
	// process and about 0.2 MiB more kernel memory, and is no longer
	// process-free.
	Warm bool
}

// Runner runs specs on its slots. Make it with New; it is safe for
// concurrent use.
type Runner struct {
	opts Options

	cgroups *cgroup.Manager
	cgInfo  cgroup.Info
	cgErr   error

	free chan *slot
	all  []*slot
	// reserving is held by the one reservation gathering its slots (see
	// Reserve); extraSlots numbers the slots built past Size for one.
	reserving  chan struct{}
	extraSlots atomic.Int64

	mu      sync.Mutex
	closed  bool
	wg      sync.WaitGroup // runs and reservations in flight
	lastErr error          // the last failure to rebuild a slot (see Stats)

	plansMu sync.Mutex
	checked map[string]error // spec mount layouts already validated

	released release.Queue
	rebuilds atomic.Int64
	// lastEnd is when the last run ended (Unix ns), running how many
	// runs are under way: together they tell whether runs keep coming
	// (see box.busy).
	lastEnd, running atomic.Int64
	// apart: the box's pid 1 lives beside the program, not as its parent
	// (forkexec.Runner.ReaperApart), where that works.
	apart bool
	// id tells this Runner's work directories and stocked cgroups from
	// those of the process's other Runners.
	id uint64
}

var _ sandbox.Runner = (*Runner)(nil)

// New builds the slots and returns a Runner that uses them. It needs root
// (the child enters namespaces as host root) and, for the vfork start,
// amd64; elsewhere runs start with a fork.
func New(o Options) (*Runner, error) {
	if o.Size <= 0 {
		o.Size = 1
	}
	if !sandbox.HostIsRoot() {
		return nil, errors.New("slots: needs root: the run's child enters the slot's namespaces as host root")
	}
	r := &Runner{opts: o, free: make(chan *slot, o.Size), reserving: make(chan struct{}, 1), checked: map[string]error{},
		apart: forkexec.CanReaperApart() && !noReaperApart, id: runnerSeq.Add(1)}
	r.released.Defer = backgroundDefer
	workdir.RemoveStale(o.WorkRoot, namePrefix)
	if o.NoCgroups {
		r.cgErr = errors.New("disabled by the caller")
	} else if info, err := cgroup.Detect(); err != nil {
		r.cgErr = err
	} else {
		cgroup.RemoveStale()
		m, err := cgroup.New()
		if err != nil {
			r.cgErr = err
		} else {
			r.cgroups, r.cgInfo = m, info
			m.KeepStock(fmt.Sprintf("%s%d-r%d-s-", namePrefix, os.Getpid(), r.id), 2)
			m.DeferStockWork(backgroundDefer)
		}
	}
	for i := range o.Size {
		s := &slot{id: i}
		r.setStock(s)
		if err := s.build(); err != nil {
			s.destroy()
			r.Close()
			return nil, err
		}
		r.all = append(r.all, s)
		r.free <- s
	}
	return r, nil
}

// Cgroups reports whether runs get a cgroup, and if not, why.
func (r *Runner) Cgroups() (bool, error) { return r.cgroups != nil, r.cgErr }

// Accounting is where the figures of this runner's results come from.
func (r *Runner) Accounting() string {
	if r.cgroups == nil {
		return sandbox.AccountingRusage
	}
	return r.cgInfo.Accounting()
}

// Size is the number of slots.
func (r *Runner) Size() int { return r.opts.Size }

// Rebuilds counts the slots rebuilt because their namespaces went bad.
func (r *Runner) Rebuilds() int64 { return r.rebuilds.Load() }

// Close waits for the runs in flight, then releases every slot (its
// namespaces go with the last descriptor) and the cgroups kept ready.
// Nothing is left on the host.
func (r *Runner) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.wg.Wait()
	for _, s := range r.all {
		s.destroy()
	}
	r.released.Wait()
	if r.cgroups != nil {
		return r.cgroups.Close()
	}
	return nil
}

// SpoilIdle breaks the namespaces of an idle slot, as a bug or an outside
// hand could: its mount namespace descriptors (the slot's and the copies
// its stock made ahead) then name no namespace. The next run on it finds
// out, rebuilds the slot and runs there (tests).
func (r *Runner) SpoilIdle(ctx context.Context) error {
	s, err := r.take(ctx)
	if err != nil {
		return err
	}
	defer r.put(s)
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("slots: %w", err)
	}
	defer unix.Close(fd)
	// dup3 over each descriptor: the holder keeps its number, which now
	// names /dev/null; the namespace goes with its last reference.
	spoil := func(ns int) {
		if err == nil && ns > 0 {
			err = unix.Dup3(fd, ns, unix.O_CLOEXEC)
		}
	}
	spoil(s.mntNS)
	s.net.mu.Lock()
	for s.net.filling {
		s.net.idle.Wait()
	}
	for _, ns := range s.net.ready {
		spoil(ns.mount)
	}
	if s.net.ahead != nil {
		spoil(s.net.ahead.mntNS)
	}
	s.net.mu.Unlock()
	if err != nil {
		return fmt.Errorf("slots: %w", err)
	}
	return nil
}

func (r *Runner) take(ctx context.Context) (*slot, error) {
	select {
	case s := <-r.free:
		return s, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("slots: waiting for a free slot: %w", ctx.Err())
	}
}

func (r *Runner) put(s *slot) { r.free <- s }

// slot is one zero-process box: descriptors of its namespaces.
type slot struct {
	id     int
	lease  *hostid.Lease
	userNS int // -1 when none
	mntNS  int // -1 when none
	// baseKey names the binds mntNS was built with; plan is the slot plan
	// for runKey (binds and tmpfs size).
	baseKey, runKey string
	plan            *mount.SlotPlan
	// mountGen names mntNS as it is now: a mount copy made ahead from an
	// earlier one (runNS.mountGen) is not used.
	mountGen uint64
	net      netStock
}

// build makes the slot's lease, user namespace and an empty network stock;
// its mount namespace is made by the first run (it depends on the binds).
func (s *slot) build() error {
	// The stock must not keep the number of a closed user namespace
	// descriptor, which the process may have reused for anything.
	s.userNS, s.mntNS = -1, -1
	s.net.setUserNS(-1)
	if s.lease == nil {
		l, err := hostid.Acquire()
		if err != nil {
			return fmt.Errorf("slots: %w", err)
		}
		s.lease = l
	}
	fd, err := newUserNS(s.lease.Owner, s.lease.Owner,
		[]forkexec.IDMap{{Inside: sandbox.BoxUID, Outside: s.lease.UID, Size: 1}},
		[]forkexec.IDMap{{Inside: sandbox.BoxGID, Outside: s.lease.GID, Size: 1}})
	if err != nil {
		return fmt.Errorf("slots: slot %d: %w", s.id, err)
	}
	s.userNS = fd
	s.net.setUserNS(fd)
	s.net.fill()
	return nil
}

// destroy closes everything the slot holds; its lease too.
func (s *slot) destroy() {
	s.net.drain()
	closeFD(&s.mntNS)
	closeFD(&s.userNS)
	s.baseKey, s.runKey, s.plan = "", "", nil
	s.mountGen++
	if s.lease != nil {
		s.lease.Release()
		s.lease = nil
	}
}

// rebuild replaces every namespace of the slot; it keeps its host ids,
// which nothing of the slot uses any more (its runs are over).
func (s *slot) rebuild() error {
	s.net.drain()
	closeFD(&s.mntNS)
	closeFD(&s.userNS)
	s.baseKey, s.runKey, s.plan = "", "", nil
	s.mountGen++
	return s.build()
}

// layoutKey names the mounts a spec asks for: binds (baseKey) and the
// tmpfs size (runKey adds it).
func layoutKey(binds []sandbox.Bind, tmpfs int64) (base, run string) {
	var b strings.Builder
	for _, bd := range binds {
		fmt.Fprintf(&b, "%s\x00%s\x00%v\x00", bd.Source, bd.Target, bd.Writable)
	}
	base = b.String()
	return base, fmt.Sprintf("%s%d", base, tmpfs)
}

// prepareMounts makes sure the slot's mount namespace and plan fit the
// run's binds and tmpfs size.
func (s *slot) prepareMounts(binds []sandbox.Bind, tmpfs int64) error {
	baseKey, runKey := layoutKey(binds, tmpfs)
	sources := mount.BindSources(binds)
	baseKey += sources
	runKey += "\x00" + sources
	if s.plan != nil && s.runKey == runKey && s.mntNS >= 0 {
		return nil
	}
	plan, err := mount.Slot(mount.Options{TmpfsSize: tmpfs, Binds: binds}, s.lease.UID, s.lease.GID)
	if err != nil {
		return err
	}
	if s.mntNS < 0 || s.baseKey != baseKey {
		fd, err := buildMountNS(plan.Base)
		if err != nil {
			return fmt.Errorf("slots: slot %d: %w", s.id, err)
		}
		closeFD(&s.mntNS)
		s.mntNS, s.baseKey = fd, baseKey
		s.mountGen++
		if err := s.net.setAhead(s.mntNS, s.mountGen); err != nil {
			return fmt.Errorf("slots: slot %d: %w", s.id, err)
		}
	}
	s.plan, s.runKey = plan, runKey
	return nil
}

// buildMountNS applies the slot's base plan in a mount namespace of its
// own and returns a descriptor of it. The work happens on the mount
// thread (see mountThread), one build at a time.
func buildMountNS(base *mount.Plan) (int, error) {
	mounts.once.Do(startMountThread)
	done := make(chan mountResult, 1)
	mounts.reqs <- mountReq{base: base, done: done}
	res := <-done
	return res.fd, res.err
}

// mountThread is the one thread that makes slots' mount namespaces. A
// thread with a mount namespace and root of its own must leave the
// process's shared file-system information (CLONE_FS), which cannot be
// undone, so no other goroutine may run there after. Letting the thread
// end with its goroutine instead would be wrong: Go may have cloned a
// box's child from that thread earlier, and the child's parent-death
// signal (SIGKILL) fires when the thread that cloned it ends, killing a
// run in progress on another slot. So the thread is made once and lives
// as long as the process: it goes back to the host's mount namespace
// (and root) after each build.
var mounts struct {
	once sync.Once
	reqs chan mountReq
}

type mountReq struct {
	base *mount.Plan
	done chan<- mountResult
}

type mountResult struct {
	fd  int
	err error
}

func startMountThread() {
	mounts.reqs = make(chan mountReq)
	go forkexec.OnOwnThread(func() { // the goroutine never ends
		host, err := unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			err = fmt.Errorf("open the host's mount namespace: %w", err)
		} else if uerr := unix.Unshare(unix.CLONE_FS); uerr != nil {
			err = fmt.Errorf("unshare file-system information: %w", uerr)
		}
		for req := range mounts.reqs {
			if err != nil {
				req.done <- mountResult{-1, err}
				continue
			}
			var res mountResult
			res, err = buildMountNSHere(host, req.base)
			req.done <- res
		}
	})
}

// buildMountNSHere makes the namespace on the mount thread and goes back
// to the host's. A failure to go back is sticky (stuck): the thread's
// next unshare would copy a box's tree, so every later build fails.
func buildMountNSHere(host int, base *mount.Plan) (res mountResult, stuck error) {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return mountResult{-1, fmt.Errorf("unshare mount namespace: %w", err)}, nil
	}
	defer func() {
		if err := unix.Setns(host, unix.CLONE_NEWNS); err != nil {
			stuck = fmt.Errorf("slots: the mount thread cannot go back to the host's mount namespace: %w", err)
			if res.err == nil {
				unix.Close(res.fd)
				res = mountResult{-1, stuck}
			}
		}
	}()
	// The descriptor first: once pivoted, /proc is the stash.
	fd, err := unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return mountResult{-1, fmt.Errorf("open the slot's mount namespace: %w", err)}, nil
	}
	if err := base.Apply(""); err != nil {
		unix.Close(fd)
		return mountResult{-1, err}, nil
	}
	return mountResult{fd, nil}, nil
}

// netStock keeps fresh network namespaces ready for the slot's next runs,
// made inside the slot's user namespace: a run never sees the sockets,
// counters or ports of the one before. Beside each a fresh IPC namespace
// (owned by the host's user namespace, as a clone would make it), made by
// the same child: its making (a message queue file system, sysctl tables)
// is then no part of the run's start.
//
// The stock holds up to depth sets: one, or two for a warm Runner. Making
// one (a child that unshares, brings loopback up) sets the kernel to work
// on both CPUs of a small machine (softirqs, workqueues). A run that leaves
// the stock empty (every run of a lean Runner, runs back to back on a warm
// one) refills it while its program runs (fillLater), so that the next run
// does not wait for a namespace; a warm stock with a set left is topped up
// while the slot is idle, backgroundDefer after its last run (topUpLater),
// so that a program started 20 ms after the last run has both CPUs to
// itself.
type netStock struct {
	mu      sync.Mutex
	userNS  int
	ready   []runNS // each with net > 0 (0 is never a namespace of ours)
	filling bool
	idle    *sync.Cond
	topUp   *time.Timer // armed while a deferred top-up waits
	err     error       // why the last fill failed

	// ahead, when set, is what each set's mount copy is made of: the
	// slot's mount namespace (a descriptor of the stock's own).
	ahead *mountSource
	// noAhead (benchmarks, noMountAhead): no mount copies in the stock.
	noAhead bool

	// depth is how many sets the stock holds (Options.Warm).
	depth int
	// apart: the slot's runs have their pid 1 apart (Runner.apart) and the
	// Runner is warm; the deferred top-up then also starts the next run's
	// pid 1 ahead (pid1),
	// in its fresh pid namespace, idle until the run's program joins it:
	// its clone and exec are then no part of the run's preparation.
	apart    bool
	pid1     *forkexec.Reaped
	starting bool // a pid 1 is being started outside mu
}

// setStock says how much slot s keeps ready while idle (Options.Warm).
func (r *Runner) setStock(s *slot) {
	s.net.noAhead = noMountAhead
	s.net.apart = r.apart && r.opts.Warm
	s.net.depth = 1
	if r.opts.Warm {
		s.net.depth = 2
	}
}

// runNS are the namespaces a run takes from the stock, with a detached
// mount of the IPC namespace's message queues (mq; -1 when none) through
// which the run's end removes those the program left (U3): made here, off
// the run's path.
type runNS struct {
	net, ipc, mq int
	// mount > 0 is the run's private copy of the slot's mount namespace,
	// made ahead (forkexec.NewRunNamespacesAhead) from the namespace
	// mountGen names (slot.mountGen), with nothing mounted in it yet: the
	// run mounts its /tmp, /w and /proc there after the run before it
	// ended (U7). Like the rest of the set it serves one run: take hands
	// it out once, and the run closes it.
	mount    int
	mountGen uint64
	// unixList > 0 lists the unix sockets of net (unixsocket.OpenListIn),
	// for those a run leaves in flight: opened with the namespace, off the
	// run's path, it is there before the run's program can end.
	unixList int
}

func (ns runNS) close() {
	for _, fd := range []int{ns.net, ns.ipc, ns.mq, ns.mount, ns.unixList} {
		if fd > 0 {
			unix.Close(fd)
		}
	}
}

// mountSource is what the stock makes its mount copies of.
type mountSource struct {
	mntNS int // a descriptor of the slot's mount namespace, the holder's own
	gen   uint64
}

// makeRunNS makes one set of run namespaces in userNS, with a mount copy
// when src is set. A mount copy that could not be made is left out: the
// run makes its own.
func makeRunNS(userNS int, src *mountSource) (runNS, error) {
	var m *forkexec.MountsAhead
	if src != nil {
		m = &forkexec.MountsAhead{MountNS: src.mntNS}
	}
	ns, err := forkexec.NewRunNamespacesAhead(userNS, m)
	if err != nil {
		return runNS{mq: -1}, err
	}
	run := runNS{net: ns.Net, ipc: ns.IPC, mq: -1}
	// Without the mount (a kernel without fsopen) the queues are left to
	// the kernel's free of the namespace, as they were.
	if mq, err := mqueue.Mount(ns.IPC); err == nil {
		run.mq = mq
	}
	if ns.Mount > 0 {
		run.mount, run.mountGen = ns.Mount, src.gen
	}
	// Without the list the teardown only starts a collection.
	if list, err := unixsocket.OpenListIn(ns.Net); err == nil {
		run.unixList = list
	}
	return run, nil
}

// setAhead says what the stock's mount copies are made of from now on:
// mntNS (the slot's, which the stock duplicates: the slot may close its
// own while a fill uses it), under the name gen.
func (n *netStock) setAhead(mntNS int, gen uint64) error {
	if n.noAhead {
		return nil
	}
	fd, err := unix.FcntlInt(uintptr(mntNS), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("keep the mount namespace for the stock: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closeAheadLocked()
	n.ahead = &mountSource{mntNS: fd, gen: gen}
	return nil
}

func (n *netStock) closeAheadLocked() {
	if n.ahead != nil {
		unix.Close(n.ahead.mntNS)
		n.ahead = nil
	}
}

// aheadCopyLocked returns a copy of n.ahead with a descriptor of its own,
// which the caller closes (closeSource): a fill outside the lock must not
// use a number setAhead or drain may close and the process reuse.
func (n *netStock) aheadCopyLocked() *mountSource {
	if n.ahead == nil {
		return nil
	}
	fd, err := unix.FcntlInt(uintptr(n.ahead.mntNS), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil // the runs make their own copies
	}
	src := *n.ahead
	src.mntNS = fd
	return &src
}

func closeSource(src *mountSource) {
	if src != nil {
		unix.Close(src.mntNS)
	}
}

// take returns stocked namespaces, or makes them when there are none. The
// runner refills the stock (fillLater, topUpLater).
func (n *netStock) take() (runNS, error) {
	n.mu.Lock()
	if n.idle == nil {
		n.idle = sync.NewCond(&n.mu)
	}
	if n.topUp != nil {
		n.topUp.Stop() // this run kicks or rearms it
	}
	for n.filling && len(n.ready) == 0 {
		n.idle.Wait() // a fill under way finishes sooner than a new one
	}
	var ns runNS
	if k := len(n.ready); k > 0 {
		ns = n.ready[k-1]
		n.ready = n.ready[:k-1]
	}
	userNS := n.userNS
	n.mu.Unlock()
	if ns.net <= 0 {
		// On the run's path: no mount copy, which would cost the run as
		// much as making its own.
		var err error
		if ns, err = makeRunNS(userNS, nil); err != nil {
			return runNS{}, fmt.Errorf("slots: %w", err)
		}
	}
	return ns, nil
}

// fillLater refills an empty stock in the background at once (a run's
// program runs; runs come back to back). A stock with namespaces left
// waits for topUpLater.
func (n *netStock) fillLater() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.ready) == 0 {
		n.startFillLocked()
	}
}

// topUpLater fills the stock up backgroundDefer from now (the end of a
// run), unless a run takes from it first.
func (n *netStock) topUpLater() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.ready) >= n.depth && (!n.apart || n.pid1 != nil) {
		return
	}
	if n.topUp == nil {
		n.topUp = time.AfterFunc(backgroundDefer, n.topUpNow)
		return
	}
	n.topUp.Reset(backgroundDefer)
}

// topUpNow starts the fill of the network stock and, where pid 1 lives
// apart, starts the next run's pid 1: at the runs' priority (a niced
// pid 1 would die slower when a run ends, and Run waits for that), from
// the thread forkexec keeps for that (its end would kill pid 1 through its
// parent-death signal, and the timer's thread may end before the run).
func (n *netStock) topUpNow() {
	n.mu.Lock()
	if n.idle == nil {
		n.idle = sync.NewCond(&n.mu)
	}
	n.startFillLocked()
	start := n.apart && n.pid1 == nil && n.userNS >= 0 && !n.starting
	n.starting = n.starting || start
	n.mu.Unlock()
	if !start {
		return
	}
	// Outside the lock: a run that takes from the stock meanwhile starts
	// its own pid 1, and this one waits for the next run.
	rp, err := forkexec.NewReaped()
	if err == nil {
		if err = rp.StartApartAhead(syscall.SIGKILL); err != nil {
			rp.Close()
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.starting = false
	if n.idle != nil {
		n.idle.Broadcast()
	}
	if err != nil {
		return // each run starts its own
	}
	if n.pid1 != nil || n.userNS < 0 { // drained meanwhile
		rp.Close()
		return
	}
	n.pid1 = rp
}

// takePid1 returns the pid 1 started ahead for the next run, nil when
// there is none (or it was killed meanwhile).
func (n *netStock) takePid1() *forkexec.Reaped {
	n.mu.Lock()
	rp := n.pid1
	n.pid1 = nil
	n.mu.Unlock()
	if rp != nil && !rp.Apart() {
		rp.Close()
		return nil
	}
	return rp
}

// startFillLocked starts a background fill up to n.depth unless one
// is under way.
func (n *netStock) startFillLocked() {
	if n.filling || len(n.ready) >= n.depth || n.userNS < 0 {
		return
	}
	if n.idle == nil {
		n.idle = sync.NewCond(&n.mu)
	}
	n.filling = true
	userNS := n.userNS
	src := n.aheadCopyLocked()
	// At a lower priority than the runs.
	release.Go(func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		defer closeSource(src)
		for len(n.ready) < n.depth {
			n.mu.Unlock()
			ns, err := makeRunNS(userNS, src)
			n.mu.Lock()
			if err != nil {
				n.err = err
				break
			}
			n.ready = append(n.ready, ns)
		}
		n.filling = false
		n.idle.Broadcast()
	})
}

// setUserNS sets the user namespace the stock's namespaces are made in:
// under the lock, since a deferred top-up of the slot's last life may still
// be about to look at it (drain stops its timer, but not one that fired).
func (n *netStock) setUserNS(fd int) {
	n.mu.Lock()
	n.userNS = fd
	n.mu.Unlock()
}

// fill stocks one set now (when the slot is built) and the rest later.
func (n *netStock) fill() {
	n.mu.Lock()
	userNS := n.userNS
	src := n.aheadCopyLocked()
	n.mu.Unlock()
	ns, err := makeRunNS(userNS, src)
	closeSource(src)
	n.mu.Lock()
	if err != nil {
		n.err = err
		n.mu.Unlock()
		return
	}
	n.ready = append(n.ready, ns)
	n.mu.Unlock()
	n.topUpLater()
}

// settle starts a deferred top-up now and waits until no fill is under way
// (tests that count descriptors).
func (n *netStock) settle() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.topUp != nil && n.topUp.Stop() {
		n.mu.Unlock()
		n.topUpNow()
		n.mu.Lock()
	}
	for n.filling || n.starting {
		n.idle.Wait()
	}
}

// drain waits for a fill under way and closes the stock.
func (n *netStock) drain() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.topUp != nil {
		n.topUp.Stop()
	}
	for n.filling || n.starting {
		n.idle.Wait()
	}
	for _, ns := range n.ready {
		ns.close()
	}
	n.ready = nil
	if n.pid1 != nil {
		n.pid1.Close()
		n.pid1 = nil
	}
	n.closeAheadLocked()
	n.userNS = -1 // closed by the slot; build sets the next one
}

func closeFD(fd *int) {
	if *fd >= 0 {
		unix.Close(*fd)
		*fd = -1
	}
}

// noReaperApart (benchmarks) keeps the box's pid 1 as the program's parent.
var noReaperApart bool

// noMountAhead (benchmarks) makes Runners whose runs copy the slot's mount
// namespace themselves, as before the stock held mount copies.
var noMountAhead bool

// newUserNS makes a slot's user namespace (tests make it fail).
var newUserNS = forkexec.NewUserNS
