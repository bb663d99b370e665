package main

// Actions for U7 (nothing a run can observe tells it about the previous
// run) and the page-cache half of U4. Each prints what a run sees at its
// start, so that a spec can compare two runs in a row.

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	register("reuse-pids", reusePids)
	register("reuse-net", reuseNet)
	register("reuse-times", reuseTimes)
	register("reuse-fresh", reuseFresh)
	register("read-files", readFiles)
}

// reuse-pids N: prints pid=, last_pid= (/proc/sys/kernel/ns_last_pid),
// child= (the pid of a first child), then starts N more children, one
// after the other, and prints forked=N.
func reusePids(args []string) int {
	n := 0
	if len(args) > 0 {
		n, _ = strconv.Atoi(args[0])
	}
	fmt.Printf("pid=%d\n", os.Getpid())
	if b, err := os.ReadFile("/proc/sys/kernel/ns_last_pid"); err == nil {
		fmt.Printf("last_pid=%s\n", strings.TrimSpace(string(b)))
	}
	// /bin/true, not this program again: a Go start costs ~10 ms of CPU,
	// and hundreds of them would meet the run's CPU limit.
	prog := []string{"/bin/true"}
	if _, err := os.Stat(prog[0]); err != nil {
		prog = []string{"/proc/self/exe", "true"}
	}
	child := func() (int, error) {
		cmd := exec.Command(prog[0], prog[1:]...)
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		pid := cmd.Process.Pid
		return pid, cmd.Wait()
	}
	pid, err := child()
	if err != nil {
		fmt.Printf("error=%s\n", errText(err))
		return 1
	}
	fmt.Printf("child=%d\n", pid)
	for i := 0; i < n; i++ {
		if _, err := child(); err != nil {
			fmt.Printf("error=%s\nforked=%d\n", errText(err), i)
			return 1
		}
	}
	fmt.Printf("forked=%d\n", n)
	return 0
}

// snmpCounters reads /proc/net/snmp as PROTO.FIELD -> value.
func snmpCounters() (map[string]string, error) {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) != len(values) || len(names) == 0 {
			continue
		}
		proto := strings.TrimSuffix(names[0], ":")
		for j := 1; j < len(names); j++ {
			out[proto+"."+names[j]] = values[j]
		}
	}
	return out, nil
}

// snmpCounted are the counters compared: those that count traffic (gauges
// such as Tcp.CurrEstab and constants such as Ip.Forwarding are left out).
var snmpCounted = []string{
	"Ip.InReceives", "Ip.InDelivers", "Ip.OutRequests", "Ip.OutNoRoutes",
	"Icmp.InMsgs", "Icmp.OutMsgs",
	"Tcp.ActiveOpens", "Tcp.PassiveOpens", "Tcp.AttemptFails", "Tcp.InSegs", "Tcp.OutSegs", "Tcp.OutRsts",
	"Udp.InDatagrams", "Udp.NoPorts", "Udp.OutDatagrams", "Udp.SndbufErrors",
}

func printSnmp(prefix string) {
	c, err := snmpCounters()
	if err != nil {
		fmt.Printf("%s:error=%s\n", prefix, errText(err))
		return
	}
	for _, k := range snmpCounted {
		if v, ok := c[k]; ok {
			fmt.Printf("%s:%s=%s\n", prefix, k, v)
		}
	}
}

// reuse-net [traffic]: prints start:COUNTER=V from /proc/net/snmp; with
// traffic it then sends UDP datagrams and TCP connects to 127.0.0.1 (lo up
// or not, they are counted) and prints end:COUNTER=V.
func reuseNet(args []string) int {
	printSnmp("start")
	if len(args) == 0 || args[0] != "traffic" {
		return 0
	}
	if l, err := net.Listen("tcp4", "127.0.0.1:0"); err == nil {
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				io.Copy(io.Discard, c)
				c.Close()
			}
		}()
		for i := 0; i < 20; i++ {
			if c, err := net.DialTimeout("tcp4", l.Addr().String(), time.Second); err == nil {
				c.Write(make([]byte, 64<<10))
				c.Close()
			}
		}
		l.Close()
	}
	for i := 0; i < 10; i++ {
		if c, err := net.DialTimeout("tcp4", "127.0.0.1:1", time.Second); err == nil {
			c.Close()
		}
	}
	if c, err := net.Dial("udp4", "127.0.0.1:9"); err == nil {
		for i := 0; i < 100; i++ {
			c.Write([]byte("gosandbox u7"))
		}
		c.Close()
	}
	time.Sleep(50 * time.Millisecond) // let ICMP replies be counted
	printSnmp("end")
	return 0
}

// reuse-times [plant ATIME MTIME]: prints start=SEC.NSEC (CLOCK_REALTIME,
// taken first) and, for /w, /tmp and /dev/shm, mode:DIR=, atime:DIR= and
// mtime:DIR=. With plant it then changes each directory's mode to 0701 and
// its times to ATIME and MTIME (Unix seconds), printing chmod:DIR= and
// utimes:DIR=.
func reuseTimes(args []string) int {
	var now unix.Timespec
	unix.ClockGettime(unix.CLOCK_REALTIME, &now)
	fmt.Printf("start=%d.%09d\n", now.Sec, now.Nsec)
	for _, d := range writableDirs {
		var st unix.Stat_t
		if err := unix.Stat(d, &st); err != nil {
			fmt.Printf("mode:%s=%s\n", d, errText(err))
			continue
		}
		fmt.Printf("mode:%s=%#o\natime:%s=%d.%09d\nmtime:%s=%d.%09d\n", d, st.Mode&0o7777,
			d, st.Atim.Sec, st.Atim.Nsec, d, st.Mtim.Sec, st.Mtim.Nsec)
	}
	if len(args) < 3 || args[0] != "plant" {
		return 0
	}
	atime, err1 := strconv.ParseInt(args[1], 10, 64)
	mtime, err2 := strconv.ParseInt(args[2], 10, 64)
	if err1 != nil || err2 != nil {
		return 2
	}
	for _, d := range writableDirs {
		fmt.Printf("chmod:%s=%s\n", d, errText(unix.Chmod(d, 0o701)))
		ts := []unix.Timespec{{Sec: atime}, {Sec: mtime}}
		fmt.Printf("utimes:%s=%s\n", d, errText(unix.UtimesNano(d, ts)))
	}
	return 0
}

// reuse-fresh quiet|N: with quiet, touches nothing: sleeps 20 ms and prints
// end=SEC.NSEC (CLOCK_REALTIME_COARSE, the clock the kernel stamps a new
// file system with). Otherwise prints btime:DIR= (the birth time of /tmp
// and /dev/shm, or "none" where the kernel keeps none), then ino= (the
// inode number of a file it makes in /tmp, its first), makes and removes N
// more files and an O_TMPFILE one there (each takes an inode number of the
// tmpfs), and prints end=.
func reuseFresh(args []string) int {
	if len(args) != 1 {
		return 2
	}
	defer func() {
		var now unix.Timespec
		unix.ClockGettime(unix.CLOCK_REALTIME_COARSE, &now)
		fmt.Printf("end=%d.%09d\n", now.Sec, now.Nsec)
	}()
	if args[0] == "quiet" {
		time.Sleep(20 * time.Millisecond)
		return 0
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return 2
	}
	for _, d := range []string{"/tmp", "/dev/shm"} {
		var stx unix.Statx_t
		switch err := unix.Statx(unix.AT_FDCWD, d, 0, unix.STATX_BTIME, &stx); {
		case err != nil:
			fmt.Printf("btime:%s=%s\n", d, errText(err))
		case stx.Mask&unix.STATX_BTIME == 0:
			fmt.Printf("btime:%s=none\n", d)
		default:
			fmt.Printf("btime:%s=%d.%09d\n", d, stx.Btime.Sec, stx.Btime.Nsec)
		}
	}
	name := "/tmp/reuse-fresh"
	fd, err := unix.Open(name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		fmt.Printf("ino=%s\n", errText(err))
		return 1
	}
	var st unix.Stat_t
	unix.Fstat(fd, &st)
	unix.Close(fd)
	unix.Unlink(name)
	fmt.Printf("ino=%d\n", st.Ino)
	for i := 0; i < n; i++ {
		p := fmt.Sprintf("%s-%d", name, i)
		if fd, err := unix.Open(p, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o600); err == nil {
			unix.Close(fd)
			unix.Unlink(p)
		}
	}
	if n > 0 {
		fd, err := unix.Open("/tmp", unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
		fmt.Printf("tmpfile=%s\n", errText(err))
		if err == nil {
			unix.Close(fd)
		}
	}
	return 0
}

// read-files PATH...: reads every file through the page cache and prints
// read=BYTES.
func readFiles(args []string) int {
	var total int64
	buf := make([]byte, 1<<20)
	for _, p := range args {
		f, err := os.Open(p)
		if err != nil {
			fmt.Printf("error=%s\n", errText(err))
			return 1
		}
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
		f.Close()
		total += n
		if err != nil {
			fmt.Printf("error=%s\n", errText(err))
			return 1
		}
	}
	fmt.Printf("read=%d\n", total)
	return 0
}
