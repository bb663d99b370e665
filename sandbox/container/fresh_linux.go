package container

// The init's reset of what a run could observe: pid counter, network namespace, /tmp (U7).

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"runtime"
	"strconv"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox/mount"
	"gosandbox/sandbox/unixsocket"
)

// What a reset does so that nothing a run can observe tells it about the
// previous run (U7): the pid counter goes back to where the build left it,
// each run gets a network namespace of its own, and /tmp (with /dev/shm)
// is a fresh tmpfs.

// initThreads is how many threads the init starts at build time, more than
// it ever needs at once: a thread started later would take a pid from the
// range of the runs and shift their numbers. At most two of its goroutines
// block in a system call at a time (the main loop, and the reaper during a
// run or the tidy-up after it; the socket reader waits in the runtime's
// poller), so with GOMAXPROCS=1 an init left to start threads as it pleases
// settles at 5-6 in all (with sysmon, the template thread that starts
// threads for locked goroutines and the main thread); 4 warmed threads
// give 7. Each thread costs an idle container about 48 KiB of Go stacks
// and a kernel stack, so not more.
const initThreads = 4

// warmThreads makes the runtime start n threads and leaves them idle: n
// goroutines each hold a thread of their own at the same time, then let go.
// The runtime keeps idle threads for later use.
func warmThreads(n int) {
	var locked sync.WaitGroup
	release := make(chan struct{})
	var done sync.WaitGroup
	for i := 0; i < n; i++ {
		locked.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			runtime.LockOSThread()
			locked.Done()
			<-release
			runtime.UnlockOSThread()
		}()
	}
	locked.Wait()
	close(release)
	done.Wait()
}

func (s *initServer) readLastPid() (int, error) {
	var buf [32]byte
	n, err := unix.Pread(s.lastPid, buf[:], 0)
	if err != nil {
		return 0, fmt.Errorf("init: read ns_last_pid: %w", err)
	}
	v, err := strconv.Atoi(string(bytes.TrimSpace(buf[:n])))
	if err != nil {
		return 0, fmt.Errorf("init: read ns_last_pid: %w", err)
	}
	return v, nil
}

// resetPids sets the pid counter back to its value after the build, so the
// next program and its children get the numbers of the first run of a fresh
// container. The init's own threads must all lie below: a thread started
// since then holds a number of the runs' range, and the container is no
// longer like a fresh one.
func (s *initServer) resetPids() error {
	tids, err := numberedEntries("/proc/self/task")
	if err != nil {
		return fmt.Errorf("list threads: %w", err)
	}
	for _, tid := range tids {
		if tid > s.pidBase {
			return fmt.Errorf("init thread %d started after the build, in the runs' pid range (above %d)", tid, s.pidBase)
		}
	}
	if _, err := unix.Pwrite(s.lastPid, []byte(strconv.Itoa(s.pidBase)), 0); err != nil {
		return fmt.Errorf("write ns_last_pid: %w", err)
	}
	return nil
}

// prepareNet makes the network namespace the next program starts in, with
// its loopback up (N4), and keeps a descriptor of it in s.nextNet. A
// thread of the init enters it for the set-up and comes back; should it
// fail to come back, it ends with its goroutine (it stays locked). The
// same thread makes the next program's IPC namespace too, unless one is
// made (see newRunIPC): wherever the network namespace is made, off the
// path of the runs, the IPC one costs some 40 µs more, and no goroutine or
// thread of its own.
func (s *initServer) prepareNet() error {
	type made struct {
		fd, sockets, ipc int
		err              error
	}
	wantIPC := s.nextIPC < 0
	ch := make(chan made, 1)
	go func() {
		runtime.LockOSThread()
		ipc := -1
		if wantIPC {
			ipc = newIPCNS(s.homeIPC)
			if ipc == -2 {
				ch <- made{-1, -1, -1, errors.New("init: back to the init's IPC namespace failed")}
				return // locked: the thread ends with this goroutine
			}
		}
		fd, err := newNetNS()
		sockets := -1
		if err == nil {
			if sockets, err = openUnixList(); err != nil {
				unix.Close(fd)
				fd = -1
			}
		}
		if rerr := unix.Setns(s.homeNet, unix.CLONE_NEWNET); rerr != nil {
			if fd >= 0 {
				unix.Close(fd)
			}
			if sockets >= 0 {
				unix.Close(sockets)
			}
			if ipc >= 0 {
				unix.Close(ipc)
			}
			ch <- made{-1, -1, -1, fmt.Errorf("init: back to the init's network namespace: %w", rerr)}
			return // locked: the thread ends with this goroutine
		}
		runtime.UnlockOSThread()
		ch <- made{fd, sockets, ipc, err}
	}()
	m := <-ch
	if m.ipc >= 0 {
		s.nextIPC = m.ipc
	}
	if m.err != nil {
		return m.err
	}
	s.nextNet, s.nextSockets = m.fd, m.sockets
	return nil
}

// newIPCNS makes an IPC namespace from the calling (locked) thread, which
// it leaves in its home namespace again, and returns a descriptor of it: -1
// when none could be made (the start then makes its own and says why), -2
// when the thread could not come back.
func newIPCNS(home int) int {
	if unix.Unshare(unix.CLONE_NEWIPC) != nil {
		return -1
	}
	fd, err := unix.Open("/proc/thread-self/ns/ipc", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		fd = -1
	}
	if unix.Setns(home, unix.CLONE_NEWIPC) != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return -2
	}
	return fd
}

// newNetNS moves the calling (locked) thread into a new network namespace,
// sets its loopback up and returns a descriptor of it (-1 on error).
func newNetNS() (int, error) {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return -1, fmt.Errorf("init: new network namespace: %w", err)
	}
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("init: open new network namespace: %w", err)
	}
	if err := loopbackUp(); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// loopbackUp sets lo up in the calling thread's network namespace; the
// kernel then gives it 127.0.0.1 and ::1.
func loopbackUp() error {
	sock, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("init: loopback: socket: %w", err)
	}
	defer unix.Close(sock)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("init: loopback: %w", err)
	}
	if err := unix.IoctlIfreq(sock, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("init: loopback flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(sock, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("init: loopback up: %w", err)
	}
	return nil
}

// dropNet closes the descriptor of the namespace a program was started in:
// the namespace lives on as long as the program's processes.
func (s *initServer) dropNet() {
	if s.nextNet >= 0 {
		unix.Close(s.nextNet)
		s.nextNet = -1
	}
	// Its socket list stays open for the reset (see collectInFlight).
	s.dropRunSockets()
	s.runSockets, s.nextSockets = s.nextSockets, -1
}

// freshTmp is the tmpfs at /tmp (also seen at /dev/shm: a link to /tmp in
// the container's plan, a bind in a plan without it): every reset replaces
// it with a new one, so the next run finds it as after the build, times,
// birth time and inode numbers included, which a wipe cannot give.
type freshTmp struct {
	flags uintptr
	data  string
	// shmBound says /dev/shm is a bind of /tmp, to be unmounted and bound
	// again with it.
	shmBound bool
}

// freshTmpOf finds the plan's /tmp tmpfs, to mount it again alike.
func freshTmpOf(plan *mount.Plan) (freshTmp, error) {
	want := path.Join(plan.RootPath(), tmpDir)
	wantShm := path.Join(plan.RootPath(), shmDir)
	var t freshTmp
	found := false
	for _, op := range plan.Ops() {
		if op.Target == nil {
			continue
		}
		switch target := unix.BytePtrToString(op.Target); {
		case op.Kind == mount.OpTmpfs && target == want:
			t.flags, found = op.Flags, true
			if op.Data != nil {
				t.data = unix.BytePtrToString(op.Data)
			}
		case op.Kind == mount.OpBind && target == wantShm:
			t.shmBound = true
		}
	}
	if !found {
		return freshTmp{}, fmt.Errorf("init: the mount plan has no tmpfs at %s", tmpDir)
	}
	return t, nil
}

const (
	tmpDir = "/tmp"
	shmDir = "/dev/shm"
	// busyRetries is how many collections an unmount of a busy /tmp waits
	// for: the first one's files may be released just after its canary.
	busyRetries = 3
)

// remount replaces /tmp (and a bind of it at /dev/shm) with a new tmpfs. No
// process but the init is left, yet a file of the old one may still be
// open: sent over a unix socket that is itself in flight (a garbage cycle),
// it stays open until the kernel's collector runs. An unmount that finds
// the tmpfs busy has the collector run and tries again; one still busy then
// is held from outside the box, and is detached.
func (t freshTmp) remount() error {
	dirs := []string{tmpDir}
	if t.shmBound {
		dirs = []string{shmDir, tmpDir}
	}
	for _, dir := range dirs {
		err := unix.Unmount(dir, 0)
		for try := 0; try < busyRetries && errors.Is(err, unix.EBUSY); try++ {
			if gcErr := unixsocket.AwaitCollection(); gcErr != nil {
				return fmt.Errorf("unmount %s: %w (%v)", dir, err, gcErr)
			}
			err = unix.Unmount(dir, 0)
		}
		if errors.Is(err, unix.EBUSY) {
			// Still busy: a file of it is held from outside the box (sent
			// over a unix socket the caller holds), which no collection
			// frees. Detached, it lives on for that holder only, and the
			// next run still gets a fresh one.
			err = unix.Unmount(dir, unix.MNT_DETACH)
		}
		if err != nil {
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
	}
	if err := unix.Mount("tmpfs", tmpDir, "tmpfs", t.flags, t.data); err != nil {
		return fmt.Errorf("mount %s: %w", tmpDir, err)
	}
	if !t.shmBound {
		return nil
	}
	// A bind keeps the flags of its source (nosuid, nodev).
	if err := unix.Mount(tmpDir, shmDir, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s at %s: %w", tmpDir, shmDir, err)
	}
	return nil
}

// dropCleanFilePages unmaps from the init the pages of its read-only file
// mappings (the program's text and read-only data): what starting up and
// building the container read of them (the embedding program's package
// initialisers, the mount plan, the seccomp compiler) would otherwise stay
// counted in the idle container's PSS. The pages stay in the page cache,
// shared with the host process; what a run needs again is mapped back by
// its first touch. A mapping that holds private copies is left alone, as
// they would be lost: every writable one, and a read-only one with anonymous
// pages, which in a program linked with the C library is the dynamic
// loader's relocated data made read-only after (RELRO: the C library's GOT,
// the loader's own globals), read back unrelocated it would crash the init
// at its next thread start or late-bound call. /proc/self/smaps tells those
// (Anonymous), which /proc/self/maps does not; a private copy swapped out
// counts under Swap instead, and would be lost too. It is some 1,500
// lines, read and parsed without allocating: what a parse left in the heap
// would stay resident in the idle init (0.26-0.5 MiB PSS per slot,
// measured).
func dropCleanFilePages() {
	r, _, e := unix.Syscall6(unix.SYS_OPENAT, ^uintptr(99) /* AT_FDCWD, -100 */, uintptr(unsafe.Pointer(&smapsPath[0])),
		unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		return
	}
	fd := int(r)
	defer unix.Close(fd)
	trimMappings(fd, dropPages)
}

// trimMappings reads smaps from fd and calls drop with the span of each
// read-only private file mapping that holds no private copy: no anonymous
// page, none swapped out (Anonymous comes before Swap in each entry).
func trimMappings(fd int, drop func(start, end uint64)) {
	var start, end uint64
	candidate := false
	eachLine(fd, func(line []byte) {
		f := splitFields(line)
		if len(f) == 0 {
			return
		}
		if s, e, ok := mappingSpan(f[0]); ok {
			// start-end perms offset dev inode path
			start, end = s, e
			candidate = len(f) >= 6 && len(f[1]) >= 4 && f[1][1] != 'w' && f[1][3] == 'p' &&
				string(f[4]) != "0" && f[5][0] == '/' // not [vdso], [vvar] and the like
			return
		}
		if !candidate || len(f) < 2 {
			return
		}
		switch string(f[0]) {
		case "Anonymous:":
			candidate = string(f[1]) == "0"
		case "Swap:":
			if string(f[1]) == "0" {
				drop(start, end)
			}
			candidate = false
		}
	})
}

func dropPages(start, end uint64) {
	unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED)
}

// smapsBuf and fieldsBuf are dropCleanFilePages' buffers, package variables
// so that it allocates nothing (only the init calls it, from one goroutine
// at a time); smapsPath is the file's name as the kernel takes it
// (unix.Open would allocate that copy).
var (
	smapsBuf  [8192]byte
	fieldsBuf [8][]byte
	smapsPath = [...]byte{'/', 'p', 'r', 'o', 'c', '/', 's', 'e', 'l', 'f', '/', 's', 'm', 'a', 'p', 's', 0}
)

// eachLine calls f with each line read from fd, without its newline; a
// line longer than smapsBuf comes cut in pieces.
func eachLine(fd int, f func([]byte)) {
	have := 0
	for {
		n, err := unix.Read(fd, smapsBuf[have:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			if have > 0 {
				f(smapsBuf[:have])
			}
			return
		}
		have += n
		from := 0
		for i := from; i < have; i++ {
			if smapsBuf[i] == '\n' {
				f(smapsBuf[from:i])
				from = i + 1
			}
		}
		if from == 0 && have == len(smapsBuf) {
			f(smapsBuf[:have])
			from = have
		}
		have = copy(smapsBuf[:], smapsBuf[from:have])
	}
}

// splitFields splits line at spaces into at most len(fieldsBuf) fields
// (the path of a mapping, the sixth, may have more), in fieldsBuf.
func splitFields(line []byte) [][]byte {
	f := fieldsBuf[:0]
	for i := 0; i < len(line) && len(f) < cap(f); {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		j := i
		for j < len(line) && line[j] != ' ' {
			j++
		}
		if j > i {
			f = append(f, line[i:j])
		}
		i = j
	}
	return f
}

// mappingSpan parses the start-end field of a mapping's first line in
// /proc/PID/smaps (a field line starts with its name and a colon), without
// allocating.
func mappingSpan(field []byte) (start, end uint64, ok bool) {
	var v [2]uint64
	k := 0
	for _, c := range field {
		switch {
		case c == '-' && k == 0:
			k = 1
		case c >= '0' && c <= '9':
			v[k] = v[k]<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v[k] = v[k]<<4 | uint64(c-'a'+10)
		default:
			return 0, 0, false
		}
	}
	return v[0], v[1], k == 1 && v[1] > v[0]
}
