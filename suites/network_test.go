package suites

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

// hostListener listens on the host and counts the connections it accepts.
type hostListener struct {
	net.Listener
	accepted atomic.Int64
}

func listenOnHost(network, address string) *hostListener {
	GinkgoHelper()
	l, err := net.Listen(network, address)
	Expect(err).NotTo(HaveOccurred())
	h := &hostListener{Listener: l}
	DeferCleanup(l.Close)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			h.accepted.Add(1)
			c.Close()
		}
	}()
	return h
}

// hostAddresses are the host's non-loopback IPv4 addresses.
func hostAddresses() []string {
	var out []string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
			out = append(out, ipn.IP.String())
		}
	}
	return out
}

// sysvKey is a random key no one else uses.
func sysvKey() int { return int(rand.Int32N(1<<30)) + 1<<30 }

var _ = Describe("Network and IPC", area("network"), func() {
	It("N1: the box has no network interface but loopback", property("N1"), func() {
		o := runProbe("net-ifaces")
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		Expect(probeValues(o.Stdout, "if")).To(Or(BeEmpty(), ConsistOf("lo")), describeOutcome(o))
	})

	It("N1: the box cannot reach a listener on the host", property("N1"), func() {
		var listeners []*hostListener
		var addrs []string
		for _, ip := range append([]string{"127.0.0.1"}, hostAddresses()...) {
			l := listenOnHost("tcp4", net.JoinHostPort(ip, "0"))
			listeners = append(listeners, l)
			addrs = append(addrs, l.Addr().String())
		}
		o := runProbe("net-connect", addrs...)
		got := probeKeyed(o.Stdout, "connect")
		for _, a := range addrs {
			Expect(got).To(HaveKeyWithValue(a, Not(Equal("ok"))), "the box connected to %s on the host\n%s", a, describeOutcome(o))
		}
		for _, l := range listeners {
			Expect(l.accepted.Load()).To(BeZero(), "the host listener on %s accepted a connection", l.Addr())
		}
	})

	It("N2: host unix sockets are out of reach, by path and in the abstract namespace", property("N2"), func() {
		abstract := "@" + uniqueName("gosandbox-n2-")
		byPath := filepath.Join(hostTempDir("/var/tmp"), "host.sock")
		la := listenOnHost("unix", abstract)
		lp := listenOnHost("unix", byPath)
		Expect(os.Chmod(byPath, 0o777)).To(Succeed())
		o := runProbe("net-unix", abstract, byPath)
		got := probeKeyed(o.Stdout, "unix")
		for _, a := range []string{abstract, byPath} {
			Expect(got).To(HaveKeyWithValue(a, Not(Equal("ok"))), "the box connected to host socket %s\n%s", a, describeOutcome(o))
		}
		Expect(la.accepted.Load() + lp.accepted.Load()).To(BeZero())
	})

	It("N3: raw and packet sockets cannot be opened", property("N3"), func() {
		o := runProbe("net-raw")
		raw := probeKeyed(o.Stdout, "raw")
		Expect(raw).NotTo(BeEmpty(), describeOutcome(o))
		for kind, v := range raw {
			Expect(v).NotTo(Equal("ok"), "the box opened a %s socket", kind)
		}
	})

	It("N4: the private loopback is up: a program listens and connects on 127.0.0.1 and ::1", property("N4"), func() {
		o := runProbe("net-loopback")
		Expect(o.Status).To(Equal(sandbox.StatusOK), describe(o))
		got := probeKeyed(o.Stdout, "lo")
		Expect(got).To(HaveKeyWithValue("127.0.0.1", "ok"), "IPv4 loopback inside the box\n"+describe(o))
		if _, err := os.Stat("/proc/net/if_inet6"); err != nil {
			GinkgoWriter.Printf("host without IPv6 (%v): ::1 not checked\n", err)
			return
		}
		Expect(got).To(HaveKeyWithValue("::1", "ok"), "IPv6 loopback inside the box\n"+describe(o))
	})

	It("N5: a uevent netlink socket in the box receives none of the host's device events, run after run", property("N5"), func() {
		// The host makes harmless "change" events on /dev/full's device for
		// as long as the boxes listen, and listens itself to prove they
		// happened. Three runs in a row: a runner that prepares namespaces
		// ahead may hand out a different kind from the second run on.
		const trigger = "/sys/devices/virtual/mem/full/uevent"
		if _, err := os.Stat(trigger); err != nil {
			Skip("no harmless device to make events with: " + err.Error())
		}
		hostSeen := listenUevents()
		stop := make(chan struct{})
		triggered := make(chan struct{})
		go func() {
			defer close(triggered)
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				os.WriteFile(trigger, []byte("change"), 0)
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
		var outs []Outcome
		for i := 0; i < 3; i++ {
			outs = append(outs, runBounded(probeSpec("net-uevent", "1500ms")))
		}
		close(stop)
		<-triggered
		if n := hostSeen(); n == 0 {
			Skip("the host itself saw no uevent from " + trigger + ": nothing to check the box against")
		} else {
			AddReportEntry("N5 host events", fmt.Sprintf("%d uevents seen on the host while the boxes listened", n))
		}
		for i, o := range outs {
			Expect(o.Status).To(Equal(sandbox.StatusOK), "run %d\n%s", i+1, describe(o))
			f := probeFacts(o.Stdout)
			Expect(f).To(HaveKey("uevents"), "run %d\n%s", i+1, describe(o))
			Expect(f["uevents"]).To(Equal("0"), "run %d of the box received host device events\n%s", i+1, describe(o))
		}
	})

	It("I1: the hostname is the configured one", property("I1"), func() {
		spec := probeSpec("ipc-hostname")
		spec.Hostname = uniqueName("box-")
		o := run(spec)
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		f := probeFacts(o.Stdout)
		Expect(f).To(HaveKeyWithValue("nodename", spec.Hostname))
	})

	It("I1: the hostname defaults to "+sandbox.DefaultHostname, property("I1"), func() {
		o := runProbe("ipc-hostname")
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		Expect(probeFacts(o.Stdout)).To(HaveKeyWithValue("nodename", sandbox.DefaultHostname))
	})

	It("I2: the host's SysV shared memory, message queues and semaphores are invisible", property("I2"), func() {
		shmKey, msgKey, semKey := sysvKey(), sysvKey(), sysvKey()
		shm, err := unix.SysvShmGet(shmKey, 4096, unix.IPC_CREAT|unix.IPC_EXCL|0o666)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { unix.SysvShmCtl(shm, unix.IPC_RMID, nil) })
		msg, _, e := unix.Syscall(unix.SYS_MSGGET, uintptr(msgKey), unix.IPC_CREAT|unix.IPC_EXCL|0o666, 0)
		Expect(e).To(BeZero())
		DeferCleanup(func() { unix.Syscall(unix.SYS_MSGCTL, msg, unix.IPC_RMID, 0) })
		sem, _, e := unix.Syscall(unix.SYS_SEMGET, uintptr(semKey), 1, unix.IPC_CREAT|unix.IPC_EXCL|0o666)
		Expect(e).To(BeZero())
		DeferCleanup(func() { unix.Syscall6(unix.SYS_SEMCTL, sem, 0, unix.IPC_RMID, 0, 0, 0) })

		o := runProbe("ipc-sysv", strconv.Itoa(shmKey), strconv.Itoa(msgKey), strconv.Itoa(semKey))
		f := probeFacts(o.Stdout)
		for _, kind := range []string{"shm", "msg", "sem"} {
			Expect(f).To(HaveKeyWithValue(kind, Not(Equal("ok"))), "the box found the host's %s object\n%s", kind, describeOutcome(o))
			if n, err := strconv.Atoi(f["sysvipc."+kind]); err == nil {
				Expect(n).To(BeZero(), "/proc/sysvipc/%s lists %d objects in the box", kind, n)
			}
		}
	})

	It("I2: the host's POSIX message queues are invisible", property("I2"), func() {
		name := uniqueName("gosandbox-i2-")
		cname, err := unix.BytePtrFromString(name)
		Expect(err).NotTo(HaveOccurred())
		fd, _, e := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(cname)), uintptr(unix.O_CREAT|unix.O_EXCL|unix.O_RDWR|unix.O_CLOEXEC), 0o666, 0, 0, 0)
		Expect(e).To(BeZero(), "mq_open on the host")
		DeferCleanup(func() {
			unix.Close(int(fd))
			unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(cname)), 0, 0)
		})
		o := runProbe("ipc-mq", name)
		Expect(probeFacts(o.Stdout)).To(HaveKeyWithValue("mq", Not(Equal("ok"))), "the box opened the host's queue\n%s", describeOutcome(o))
	})

	It("I2: the host's keyrings are out of reach", property("I2"), func() {
		desc := uniqueName("gosandbox-i2-")
		id, err := unix.AddKey("user", desc, []byte("host secret"), unix.KEY_SPEC_SESSION_KEYRING)
		if err != nil {
			Skip("cannot add a key to the host's session keyring: " + err.Error())
		}
		DeferCleanup(func() { unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0) })
		o := runProbe("ipc-key", desc)
		f := probeFacts(o.Stdout)
		Expect(f).To(HaveKeyWithValue("session", Not(Equal("ok"))), "the box found the host's key in its session keyring\n%s", describeOutcome(o))
		Expect(f).To(HaveKeyWithValue("user", Not(Equal("ok"))), "the box found the host's key in its user keyring\n%s", describeOutcome(o))
		if n, err := strconv.Atoi(f["proc"]); err == nil {
			Expect(n).To(BeZero(), "/proc/keys in the box lists the host's key")
		}
	})

	It("I3: every namespace id differs from the host's", property("I3"), func() {
		o := runProbe("ipc-ns")
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		f := probeFacts(o.Stdout)
		for _, kind := range []string{"pid", "mnt", "net", "ipc", "uts", "user", "cgroup"} {
			host, err := os.Readlink("/proc/self/ns/" + kind)
			if err != nil {
				// An older kernel without this namespace kind (cgroup before 4.6).
				GinkgoWriter.Printf("host has no %s namespace: %v\n", kind, err)
				continue
			}
			Expect(f).To(HaveKey("ns."+kind), describeOutcome(o))
			Expect(f["ns."+kind]).To(HavePrefix(kind+":["), "the box cannot read its %s namespace id", kind)
			Expect(f["ns."+kind]).NotTo(Equal(host), "the box shares the host's %s namespace", kind)
		}
	})
})

// listenUevents listens to the host's kernel device events until the spec
// ends; the function it returns says how many arrived so far.
func listenUevents() func() int {
	GinkgoHelper()
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		Skip("no uevent netlink socket on the host: " + err.Error())
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		unix.Close(fd)
		Skip("cannot listen to the host's uevents: " + err.Error())
	}
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	var n atomic.Int64
	var closing atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for !closing.Load() {
			if k, _, err := unix.Recvfrom(fd, buf, 0); err == nil && k > 0 {
				n.Add(1)
			}
		}
	}()
	DeferCleanup(func() {
		closing.Store(true)
		<-done
		unix.Close(fd)
	})
	return func() int { return int(n.Load()) }
}
