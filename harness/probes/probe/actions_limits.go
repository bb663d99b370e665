package main

// Actions for the Limits and accounting properties (R1-R13; R14 in actions_sockmem.go). Each burns,
// allocates, writes or waits in one measured way and prints what it did, so a
// spec can tell "the sandbox stopped me" from "I never started".
//
// Every action that could run away on an unconfined host either refuses to act
// there (mustBeBoxed) or stops on its own after a safety cap: a sandbox that
// fails to enforce a limit then shows up as a wrong status, not as a hung suite.

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

// spinCap bounds every CPU spinner: long past any limit a spec sets, short
// enough that a sandbox that enforces nothing costs a spec seconds, not minutes.
const spinCap = 10 * time.Second

func init() {
	register("cpu-spin", cpuSpin)
	register("cpu-leftover", cpuLeftover)
	register("cpu-burn", cpuBurn)
	register("wall-sleep", wallSleep)
	register("wall-pause", wallPause)
	register("wall-stop", wallStop)
	register("mem-bomb", memBomb)
	register("mem-touch", memTouch)
	register("mem-mmap", memMmap)
	register("tmpfs-fill", tmpfsFill)
	register("fork-bomb", forkBomb)
	register("flood", flood)
	register("rlimits", printRlimits)
	register("rlimit-raise", rlimitRaise)
	register("cpu-affinity", cpuAffinity)
}

// errName names the errno inside err ("EPERM"), or "ok" for nil, or the
// error's text when it carries no errno.
func errName(err error) string {
	if err == nil {
		return "ok"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if name := unix.ErrnoName(errno); name != "" {
			return name
		}
		return "errno" + strconv.Itoa(int(errno))
	}
	return strings.ReplaceAll(err.Error(), " ", "_")
}

// catchSignals installs handlers for the signals a limit might be enforced
// with, reporting each catch and carrying on. The enforcing kill (SIGKILL)
// cannot be caught, which is what R4 checks.
func catchSignals() {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, syscall.SIGXCPU, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGALRM, syscall.SIGVTALRM, syscall.SIGPROF)
	go func() {
		for s := range ch {
			fmt.Printf("caught=%v\n", s)
		}
	}()
}

// spin burns CPU on the calling OS thread until the deadline.
func spin(deadline time.Time) {
	runtime.LockOSThread()
	x := uint64(1)
	for i := 0; ; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		if i%(1<<20) == 0 && time.Now().After(deadline) {
			break
		}
	}
	if x == 42 { // keep x alive
		fmt.Println()
	}
}

// cpu-spin [-threads N] [-children N] [-catch] [-ignore]: burn CPU until
// killed (or spinCap). Children are copies of this action in new processes,
// the parent waiting idle, so that only a box-wide CPU count stops them.
func cpuSpin(args []string) int {
	fs := flag.NewFlagSet("cpu-spin", flag.ContinueOnError)
	threads := fs.Int("threads", 1, "spinning threads")
	children := fs.Int("children", 0, "spinning child processes (the parent idles)")
	catch := fs.Bool("catch", false, "install handlers for SIGXCPU, SIGTERM, SIGINT, ...")
	ignore := fs.Bool("ignore", false, "ignore SIGXCPU")
	spinFor := fs.Duration("cap", spinCap, "give up after this long (a slow machine needs longer to reach a limit)")
	if fs.Parse(args) != nil {
		return 2
	}
	if *catch {
		catchSignals()
	}
	if *ignore {
		signal.Ignore(syscall.SIGXCPU)
	}
	deadline := time.Now().Add(*spinFor)
	if *children > 0 {
		// Children outlive a parent killed alone; only a box may hold them.
		mustBeBoxed()
		childArgs := []string{"cpu-spin", "-threads", strconv.Itoa(*threads), "-cap", spinFor.String()}
		if *catch {
			childArgs = append(childArgs, "-catch")
		}
		if *ignore {
			childArgs = append(childArgs, "-ignore")
		}
		var cmds []*exec.Cmd
		for i := 0; i < *children; i++ {
			cmd := exec.Command(os.Args[0], childArgs...)
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			if err := cmd.Start(); err != nil {
				fmt.Printf("child=%s\n", errName(err))
				return 1
			}
			cmds = append(cmds, cmd)
		}
		fmt.Printf("spinning children=%d threads=%d\n", *children, *threads)
		for _, c := range cmds {
			c.Wait()
		}
		fmt.Println("spin=gave-up")
		return 0
	}
	fmt.Printf("spinning threads=%d\n", *threads)
	var wg sync.WaitGroup
	for i := 0; i < *threads; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); spin(deadline) }()
	}
	wg.Wait()
	fmt.Println("spin=gave-up")
	return 0
}

// cpu-burn DURATION: burn that much CPU time (by the process's own clock),
// then exit 0.
func cpuBurn(args []string) int {
	if len(args) != 1 {
		return 2
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		return 2
	}
	burn(d)
	fmt.Printf("burned=%v\n", d)
	return 0
}

func burn(d time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var start, now unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &start)
	x := uint64(1)
	for i := 0; ; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		if i%(1<<16) == 0 {
			unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &now)
			if time.Duration(now.Nano()-start.Nano()) >= d {
				break
			}
		}
	}
	if x == 42 {
		fmt.Println()
	}
}

// wall-sleep DURATION [-catch] [TAG...]: sleep, then exit 0. Trailing TAGs
// are ignored: they mark the process's command line for the host to find.
func wallSleep(args []string) int {
	if len(args) < 1 {
		return 2
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		return 2
	}
	for _, a := range args[1:] {
		if a == "-catch" {
			catchSignals()
		}
	}
	fmt.Println("sleeping")
	time.Sleep(d)
	fmt.Printf("slept=%v\n", d)
	return 0
}

// wall-pause: block in pause(2), using no CPU, until killed (or a cap).
func wallPause([]string) int {
	fmt.Println("pausing")
	go func() {
		time.Sleep(60 * time.Second)
		fmt.Println("pause=gave-up")
		os.Exit(0)
	}()
	runtime.LockOSThread()
	for {
		unix.Pause()
	}
}

// wall-stop: stop itself with SIGSTOP; only a kill from outside ends it.
// The init of a pid namespace (pid 1) cannot be stopped from inside, so as
// pid 1 it stops a child instead and waits for it. The kernel continues a
// stopped process once when its process group becomes orphaned (with a SIGHUP
// first), so it stops itself again each time it is continued, up to
// stopTries times, and reports each continuation.
const stopTries = 5

func wallStop([]string) int {
	if os.Getpid() == 1 {
		cmd := exec.Command(os.Args[0], "wall-stop")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Printf("child=%s\n", errName(err))
			return 1
		}
		fmt.Println("stop=child-continued")
		return 0
	}
	status, _ := os.ReadFile("/proc/self/status")
	sigIgn := ""
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			sigIgn = strings.TrimSpace(v)
		}
	}
	pgid, _ := unix.Getpgid(0)
	sid, _ := unix.Getsid(0)
	fmt.Printf("stopping pid=%d ppid=%d pgid=%d sid=%d sigign=%s\n", os.Getpid(), os.Getppid(), pgid, sid, sigIgn)
	for i := 1; i <= stopTries; i++ {
		if err := unix.Kill(os.Getpid(), unix.SIGSTOP); err != nil {
			fmt.Printf("stop=%s\n", errName(err))
			return 1
		}
		// kill(2) returns once the signal is queued; on a slow (emulated)
		// machine the stop may still be pending, not yet taken by any
		// thread, when it does. Seen in a VM: four more SIGSTOPs found the
		// first one pending and the program ran on to its end. Sleep until
		// it is taken: the sleep's return to user mode takes it.
		for stopPending() {
			time.Sleep(time.Millisecond)
		}
		fmt.Printf("stop=continued n=%d\n", i)
	}
	return 0
}

// stopPending says whether a SIGSTOP is pending for the process (ShdPnd of
// /proc/self/status, the signals sent to the whole process).
func stopPending() bool {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "ShdPnd:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && mask&(1<<(unix.SIGSTOP-1)) != 0
		}
	}
	return false
}

// touch maps n bytes of anonymous memory and writes every page, so that they
// are really charged.
func touch(n int64) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	b, err := unix.Mmap(-1, 0, int(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	return b, nil
}

// mem-bomb: allocate and touch memory in 4 MiB steps until killed; it gives up
// at 4 GiB.
func memBomb([]string) int {
	mustBeBoxed()
	fmt.Println("bomb=start")
	const step = 4 << 20
	var total int64
	for total < 4<<30 {
		if _, err := touch(step); err != nil {
			fmt.Printf("bomb=%s total=%d\n", errName(err), total)
			return 0
		}
		total += step
	}
	fmt.Printf("bomb=gave-up total=%d\n", total)
	return 0
}

// mem-touch SIZE [-burn DURATION]: touch SIZE of memory, optionally burn CPU
// while holding it, print touched=BYTES and exit 0.
func memTouch(args []string) int {
	if len(args) < 1 {
		return 2
	}
	n, err := sandbox.ParseSize(args[0])
	if err != nil || n > 1<<30 {
		fmt.Fprintln(os.Stderr, "mem-touch: want a size up to 1GiB")
		return 2
	}
	var burnFor time.Duration
	if len(args) == 3 && args[1] == "-burn" {
		if burnFor, err = time.ParseDuration(args[2]); err != nil {
			return 2
		}
	}
	b, err := touch(n)
	if err != nil {
		fmt.Printf("touch=%s\n", errName(err))
		return 1
	}
	burn(burnFor)
	fmt.Printf("touched=%d\n", len(b))
	runtime.KeepAlive(b)
	return 0
}

// mem-mmap SIZE: map (without touching) SIZE of anonymous memory and print
// mmap=ok or mmap=ENOMEM.
func memMmap(args []string) int {
	if len(args) != 1 {
		return 2
	}
	n, err := sandbox.ParseSize(args[0])
	if err != nil {
		return 2
	}
	b, err := unix.Mmap(-1, 0, int(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	fmt.Printf("mmap=%s\n", errName(err))
	if err == nil {
		unix.Munmap(b)
	}
	return 0
}

// tmpfs-fill DIR SIZE: write SIZE into DIR as 1 MiB files (so a per-file size
// limit does not interfere), printing written=BYTES and the error that stopped
// it (error=ENOSPC) or fill=done.
func tmpfsFill(args []string) int {
	mustBeBoxed()
	if len(args) != 2 {
		return 2
	}
	n, err := sandbox.ParseSize(args[1])
	if err != nil {
		return 2
	}
	if _, err := os.Stat(args[0]); err != nil {
		fmt.Printf("dir=%s\n", errName(err))
		return 1
	}
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	var written int64
	for i := 0; written < n; i++ {
		f, err := os.Create(fmt.Sprintf("%s/fill-%d", args[0], i))
		if err == nil {
			var k int
			k, err = f.Write(chunk)
			written += int64(k)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Printf("written=%d\nerror=%s\n", written, errName(err))
			return 0
		}
	}
	fmt.Printf("written=%d\nfill=done\n", written)
	return 0
}

// fork-bomb MARKER [DEPTH]: the root starts copies of itself as fast as it
// can and never waits; each copy starts two more, which sleep. The marker makes
// the tree findable from the host. The root prints bomb=started after its
// first child, bomb=held started=N when the kernel first refuses it a process
// (the cap holds), or bomb=unheld when it got bombRootChildren children without
// a refusal. The tree is bounded (about 3*bombRootChildren processes, each
// giving up after 20 s), so a box without a process cap suffers but the host
// survives.
const bombRootChildren = 120

func forkBomb(args []string) int {
	mustBeBoxed()
	if len(args) < 1 {
		return 2
	}
	depth := 0
	if len(args) > 1 {
		depth, _ = strconv.Atoi(args[1])
	}
	want := 2
	switch depth {
	case 0:
		want = bombRootChildren
	case 2:
		want = 0
	}
	started, refused := 0, 0
	for started < want && refused < 20 {
		cmd := exec.Command(os.Args[0], "fork-bomb", args[0], strconv.Itoa(depth+1))
		if err := cmd.Start(); err != nil {
			if depth == 0 && refused == 0 {
				fmt.Printf("bomb=held started=%d error=%s\n", started, errName(err))
			}
			refused++
			time.Sleep(5 * time.Millisecond)
			continue
		}
		started++
		if depth == 0 && started == 1 {
			fmt.Println("bomb=started")
		}
	}
	if depth == 0 && refused == 0 {
		fmt.Printf("bomb=unheld started=%d\n", started)
	}
	time.Sleep(20 * time.Second)
	return 0
}

// flood SIZE [stdout|stderr]: write SIZE bytes to the stream in 64 KiB
// writes, then report on the other stream.
func flood(args []string) int {
	if len(args) < 1 {
		return 2
	}
	n, err := sandbox.ParseSize(args[0])
	if err != nil || n > 1<<30 {
		return 2
	}
	out, report := os.Stdout, os.Stderr
	if len(args) > 1 && args[1] == "stderr" {
		out, report = os.Stderr, os.Stdout
	}
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = 'x'
	}
	buf[len(buf)-1] = '\n'
	var written int64
	for written < n {
		k, err := out.Write(buf[:min(int64(len(buf)), n-written)])
		written += int64(k)
		if err != nil {
			fmt.Fprintf(report, "flood=%s written=%d\n", errName(err), written)
			return 1
		}
	}
	fmt.Fprintf(report, "flood=done written=%d\n", written)
	return 0
}

var rlimitNames = []struct {
	name     string
	resource int
}{
	{"CPU", unix.RLIMIT_CPU},
	{"FSIZE", unix.RLIMIT_FSIZE},
	{"STACK", unix.RLIMIT_STACK},
	{"NOFILE", unix.RLIMIT_NOFILE},
	{"AS", unix.RLIMIT_AS},
	{"NPROC", unix.RLIMIT_NPROC},
	{"CORE", unix.RLIMIT_CORE},
}

func rlimitText(v uint64) string {
	if v == unix.RLIM_INFINITY {
		return "inf"
	}
	return strconv.FormatUint(v, 10)
}

// rlimits: print NAME=SOFT/HARD for the limits a sandbox sets.
func printRlimits([]string) int {
	for _, r := range rlimitNames {
		var l unix.Rlimit
		if err := unix.Getrlimit(r.resource, &l); err != nil {
			fmt.Printf("%s=%s\n", r.name, errName(err))
			continue
		}
		fmt.Printf("%s=%s/%s\n", r.name, rlimitText(l.Cur), rlimitText(l.Max))
	}
	return 0
}

// rlimit-raise: try to raise the hard NOFILE and STACK limits by one step
// and print raise_NAME=ok or the errno.
func rlimitRaise([]string) int {
	for _, r := range []struct {
		name     string
		resource int
		step     uint64
	}{{"NOFILE", unix.RLIMIT_NOFILE, 1}, {"STACK", unix.RLIMIT_STACK, 1 << 20}, {"FSIZE", unix.RLIMIT_FSIZE, 1 << 20}} {
		var l unix.Rlimit
		if err := unix.Getrlimit(r.resource, &l); err != nil {
			fmt.Printf("raise_%s=%s\n", r.name, errName(err))
			continue
		}
		if l.Max == unix.RLIM_INFINITY {
			fmt.Printf("raise_%s=already-unlimited\n", r.name)
			continue
		}
		raised := unix.Rlimit{Cur: l.Max + r.step, Max: l.Max + r.step}
		err := unix.Setrlimit(r.resource, &raised)
		fmt.Printf("raise_%s=%s\n", r.name, errName(err))
	}
	return 0
}

// cpu-affinity: print the CPUs the process may run on, cpus=0,1.
func cpuAffinity([]string) int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		fmt.Printf("cpus=%s\n", errName(err))
		return 1
	}
	var cpus []string
	for i := 0; i < 1024; i++ {
		if set.IsSet(i) {
			cpus = append(cpus, strconv.Itoa(i))
		}
	}
	fmt.Printf("cpus=%s\n", strings.Join(cpus, ","))
	return 0
}

// cpu-leftover DIR: leaves a process behind that waits for the program's
// end, then spins, writing its own CPU time (CLOCK_PROCESS_CPUTIME_ID, in
// ns, 20 digits) over DIR/cpu every few microseconds until it is killed;
// the program prints its own CPU time last (parent_cpu_ns=N) and exits 0.
// The box's CPU total is at least the sum of the two: a figure read
// before every process of the box is gone misses what the leftover spun
// after it. DIR is one of the box's writable directories or bindDir.
func cpuLeftover(args []string) int {
	mustBeBoxed()
	if len(args) < 1 || !slices.Contains(append(writableDirs, bindDir), args[0]) {
		return 2
	}
	name := args[0] + "/cpu"
	cpuNow := func() int64 {
		var ts unix.Timespec
		unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts)
		return ts.Nano()
	}
	if len(args) == 2 && args[1] == "late" {
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE, 0o666)
		if err != nil {
			return 1
		}
		awaitProgramEnd()
		for end := time.Now().Add(time.Second); time.Now().Before(end); {
			f.WriteAt([]byte(fmt.Sprintf("%020d", cpuNow())), 0)
		}
		return 0
	}
	if !leaveBehind("cpu-leftover", args[0], "late") {
		return 1
	}
	fmt.Printf("parent_cpu_ns=%d\n", cpuNow())
	return 0
}
