package main

// Network and IPC actions (N1-N3, I1-I3).

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	register("net-ifaces", netIfaces)
	register("net-connect", netConnect)
	register("net-unix", netUnix)
	register("net-raw", netRaw)
	register("ipc-hostname", ipcHostname)
	register("ipc-sysv", ipcSysvLookup)
	register("ipc-mq", ipcMqLookup)
	register("ipc-key", ipcKeyring)
	register("ipc-ns", ipcNs)
}

// connectTimeout bounds a connect that a firewall swallows; the spec only
// asks whether it succeeded.
const connectTimeout = 3 * time.Second

// net-ifaces: the network interfaces, from /sys/class/net or, without /sys,
// /proc/net/dev. Prints if=NAME per interface.
func netIfaces([]string) int {
	var names []string
	if entries, err := os.ReadDir("/sys/class/net"); err == nil && len(entries) > 0 {
		for _, e := range entries {
			names = append(names, e.Name())
		}
	} else if b, err := os.ReadFile("/proc/net/dev"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if name, _, ok := strings.Cut(line, ":"); ok && !strings.Contains(name, "|") {
				names = append(names, strings.TrimSpace(name))
			}
		}
	} else {
		fmt.Printf("error=%s\n", errText(err))
		return 1
	}
	if ifs, err := net.Interfaces(); err == nil {
		for _, i := range ifs {
			fmt.Printf("flags.%s=%s\n", i.Name, i.Flags)
		}
	}
	for _, n := range names {
		fmt.Printf("if=%s\n", n)
	}
	return 0
}

// net-connect HOST:PORT...: a TCP connect to each. Prints
// connect:ADDR=ok|ERRNO|timeout.
func netConnect(args []string) int {
	for _, a := range args {
		c, err := net.DialTimeout("tcp", a, connectTimeout)
		if err == nil {
			c.Close()
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			fmt.Printf("connect:%s=timeout\n", a)
			continue
		}
		fmt.Printf("connect:%s=%s\n", a, errText(err))
	}
	return 0
}

// net-unix ADDR...: connects to unix sockets by path or, with a leading @,
// in the abstract namespace. Prints unix:ADDR=ok|ERRNO.
func netUnix(args []string) int {
	for _, a := range args {
		c, err := net.DialTimeout("unix", a, connectTimeout)
		if err == nil {
			c.Close()
		}
		fmt.Printf("unix:%s=%s\n", a, errText(err))
	}
	return 0
}

// net-raw: raw IP and packet sockets. Prints raw:KIND=ok|ERRNO.
func netRaw([]string) int {
	htons := func(v uint16) int { return int(v>>8 | v<<8) }
	for _, s := range []struct {
		kind               string
		domain, typ, proto int
	}{
		{"inet-raw-icmp", unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP},
		{"inet-raw-tcp", unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_TCP},
		{"inet6-raw-icmp", unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_ICMPV6},
		{"packet-raw", unix.AF_PACKET, unix.SOCK_RAW, htons(unix.ETH_P_ALL)},
		{"packet-dgram", unix.AF_PACKET, unix.SOCK_DGRAM, htons(unix.ETH_P_ALL)},
	} {
		fd, err := unix.Socket(s.domain, s.typ|unix.SOCK_CLOEXEC, s.proto)
		if err == nil {
			unix.Close(fd)
		}
		fmt.Printf("raw:%s=%s\n", s.kind, errText(err))
	}
	return 0
}

// ipc-hostname: nodename= (uname) and proc= (/proc/sys/kernel/hostname).
func ipcHostname([]string) int {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		fmt.Printf("error=%s\n", errText(err))
		return 1
	}
	fmt.Printf("nodename=%s\n", unix.ByteSliceToString(u.Nodename[:]))
	if b, err := os.ReadFile("/proc/sys/kernel/hostname"); err == nil {
		fmt.Printf("proc=%s\n", strings.TrimSpace(string(b)))
	}
	return 0
}

// ipc-sysv SHMKEY MSGKEY SEMKEY: looks the keys up without creating
// anything. Prints shm=, msg=, sem= (ok|ERRNO) and sysvipc.KIND=N, the
// number of objects /proc/sysvipc lists.
func ipcSysvLookup(args []string) int {
	if len(args) != 3 {
		fmt.Println("usage=ipc-sysv SHMKEY MSGKEY SEMKEY")
		return 2
	}
	key := func(s string) uintptr { k, _ := strconv.ParseInt(s, 0, 64); return uintptr(int32(k)) }
	_, err := unix.SysvShmGet(int(int32(key(args[0]))), 0, 0)
	fmt.Printf("shm=%s\n", errText(err))
	_, _, e := unix.Syscall(unix.SYS_MSGGET, key(args[1]), 0, 0)
	fmt.Printf("msg=%s\n", errText(errnoOrNil(e)))
	_, _, e = unix.Syscall(unix.SYS_SEMGET, key(args[2]), 0, 0)
	fmt.Printf("sem=%s\n", errText(errnoOrNil(e)))
	for _, kind := range []string{"shm", "msg", "sem"} {
		b, err := os.ReadFile("/proc/sysvipc/" + kind)
		if err != nil {
			fmt.Printf("sysvipc.%s=%s\n", kind, errText(err))
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		fmt.Printf("sysvipc.%s=%d\n", kind, len(lines)-1) // minus the header
	}
	return 0
}

func errnoOrNil(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// ipc-mq NAME: opens the POSIX message queue /NAME read-only. Prints
// mq=ok|ERRNO.
func ipcMqLookup(args []string) int {
	if len(args) != 1 {
		fmt.Println("usage=ipc-mq NAME")
		return 2
	}
	name, err := unix.BytePtrFromString(strings.TrimPrefix(args[0], "/"))
	if err != nil {
		return 2
	}
	fd, _, e := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(name)), uintptr(unix.O_RDONLY|unix.O_CLOEXEC), 0, 0, 0, 0)
	if e == 0 {
		unix.Close(int(fd))
	}
	fmt.Printf("mq=%s\n", errText(errnoOrNil(e)))
	return 0
}

// ipc-key DESC: searches the session and user keyrings for a "user" key
// DESC. Prints session=, user= (ok|ERRNO) and proc=N, the lines of
// /proc/keys that mention DESC.
func ipcKeyring(args []string) int {
	if len(args) != 1 {
		fmt.Println("usage=ipc-key DESC")
		return 2
	}
	_, err := unix.KeyctlSearch(unix.KEY_SPEC_SESSION_KEYRING, "user", args[0], 0)
	fmt.Printf("session=%s\n", errText(err))
	_, err = unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "user", args[0], 0)
	fmt.Printf("user=%s\n", errText(err))
	b, err := os.ReadFile("/proc/keys")
	if err != nil {
		fmt.Printf("proc=%s\n", errText(err))
		return 0
	}
	fmt.Printf("proc=%d\n", strings.Count(string(b), args[0]))
	return 0
}

// ipc-ns: the namespace ids. Prints ns.KIND=KIND:[INODE] or ns.KIND=ERRNO.
func ipcNs([]string) int {
	for _, kind := range []string{"pid", "mnt", "net", "ipc", "uts", "user", "cgroup"} {
		v, err := os.Readlink("/proc/self/ns/" + kind)
		if err != nil {
			v = errText(err)
		}
		fmt.Printf("ns.%s=%s\n", kind, v)
	}
	return 0
}

func init() {
	register("net-loopback", netLoopback)
	register("net-uevent", netUevent)
}

// net-loopback: listens on 127.0.0.1 and ::1, connects, and sends a byte
// each way. Prints lo:ADDR=ok|ERRNO.
func netLoopback([]string) int {
	for _, c := range []struct{ network, addr string }{{"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}} {
		host, _, _ := net.SplitHostPort(c.addr)
		fmt.Printf("lo:%s=%s\n", host, errText(loopbackRoundTrip(c.network, c.addr)))
	}
	return 0
}

func loopbackRoundTrip(network, addr string) error {
	l, err := net.Listen(network, addr)
	if err != nil {
		return err
	}
	defer l.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.SetDeadline(time.Now().Add(connectTimeout))
			b := make([]byte, 1)
			if _, err = io.ReadFull(c, b); err == nil {
				_, err = c.Write(b)
			}
			c.Close()
		}
		accepted <- err
	}()
	c, err := net.DialTimeout(network, l.Addr().String(), connectTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(connectTimeout))
	if _, err := c.Write([]byte{'x'}); err != nil {
		return err
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil {
		return err
	}
	return <-accepted
}

// net-uevent DURATION: binds a NETLINK_KOBJECT_UEVENT socket to the kernel's
// event group and counts what arrives for DURATION. Prints bind=ok|ERRNO,
// uevents=N and, for the first one, first=ACTION@DEVPATH.
func netUevent(args []string) int {
	d := 2 * time.Second
	if len(args) > 0 {
		if v, err := time.ParseDuration(args[0]); err == nil {
			d = v
		}
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		fmt.Printf("socket=%s\nuevents=0\n", errText(err))
		return 0
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		fmt.Printf("bind=%s\nuevents=0\n", errText(err))
		return 0
	}
	fmt.Println("bind=ok")
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	buf := make([]byte, 64<<10)
	n := 0
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		k, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil || k <= 0 {
			continue
		}
		if n == 0 {
			first, _, _ := strings.Cut(string(buf[:k]), "\x00")
			fmt.Printf("first=%s\n", first)
		}
		n++
	}
	fmt.Printf("uevents=%d\n", n)
	return 0
}
