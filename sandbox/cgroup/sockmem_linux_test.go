package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// socketsChild queues envMiB MiB in loopback TCP connections whose reader
// never reads, once told it is in its group, and holds them until stdin
// closes. It runs in the test's own network namespace: a few MiB, bounded.
func socketsChild() {
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		os.Exit(2)
	}
	mib, _ := strconv.Atoi(os.Getenv(envMiB))
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	var keep []net.Conn
	chunk := make([]byte, 64<<10)
	queued := 0
	for queued < mib<<20 && len(keep) < 400 {
		c, err := net.Dial("tcp4", l.Addr().String())
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(1)
		}
		a, err := l.Accept()
		if err != nil {
			fmt.Println("accept:", err)
			os.Exit(1)
		}
		keep = append(keep, c, a)
		for queued < mib<<20 {
			c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			n, err := c.Write(chunk)
			queued += n
			if err != nil {
				break
			}
		}
	}
	fmt.Printf("queued %d\n", queued)
	io.Copy(io.Discard, in)
}

// TestSocketMemory: socket buffers a group's processes queue count in its
// peak, and a reset forgets them (a pooled box's next run does not carry
// them); on v1 the group's socket buffers are bounded at its memory limit.
func TestSocketMemory(t *testing.T) {
	m := manager(t)
	if err := m.SocketMemory(); err != nil {
		t.Skip(err)
	}
	g := create(t, m, "sockets", Limits{Memory: 128 << 20, Procs: 16})
	tcpLimit := ""
	if impl, ok := g.impl.(*v1Group); ok {
		tcpLimit = filepath.Join(impl.memory, tcpLimitFile)
		if got := readString(tcpLimit); got != strconv.Itoa(128<<20) {
			t.Fatalf("%s = %s, want the memory limit %d", tcpLimit, got, 128<<20)
		}
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envChild+"=sockets", envMiB+"=24")
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	if err := g.AddProc(cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		t.Fatal(err)
	}
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	var queued int64
	if _, serr := fmt.Sscanf(line, "queued %d", &queued); err != nil || serr != nil || queued < 24<<20 {
		t.Fatalf("child: %q %v", line, err)
	}
	u, err := g.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if u.MemoryPeak < queued {
		t.Fatalf("peak %d below the %d bytes the group holds in sockets (source %s)", u.MemoryPeak, queued, u.PeakSource)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("holding %d bytes in sockets: %+v", queued, u)

	if err := g.Reset(Limits{Memory: 32 << 20, Procs: 16}); err != nil {
		t.Fatal(err)
	}
	after, err := g.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if after.MemoryPeak >= 16<<20 || after.MemoryLimitHit {
		t.Fatalf("usage after Reset carries the socket buffers of the run before: %+v", after)
	}
	if tcpLimit != "" {
		if got := readString(tcpLimit); got != strconv.Itoa(32<<20) {
			t.Fatalf("%s = %s after Reset, want the new memory limit %d", tcpLimit, got, 32<<20)
		}
	}
}

// TestNosocketBoot: cgroup.memory=nosocket on the kernel command line
// (alone, among other options, quoted, given twice) turns socket
// accounting off; other options, other parameters, a near miss and what
// follows "--" (init's arguments) do not.
func TestNosocketBoot(t *testing.T) {
	for _, c := range []struct {
		cmdline string
		want    bool
	}{
		{"", false},
		{"console=ttyS0 quiet\n", false},
		{"console=ttyS0 cgroup.memory=nosocket quiet\n", true},
		{"cgroup.memory=nokmem,nosocket", true},
		{"cgroup.memory=nosocket,nokmem\n", true},
		{"cgroup.memory=nokmem cgroup.memory=nosocket", true},
		{`quiet "cgroup.memory=nosocket"`, true},
		{`cgroup.memory="nobpf,nosocket" root=/dev/vda`, true},
		{"cgroup.memory=nokmem", false},
		{"cgroup.memory=nosockets", false},
		{"xcgroup.memory=nosocket", false},
		{"cgroup.memory=", false},
		{`init=/bin/x "a -- b" cgroup.memory=nosocket`, true},
		{"quiet -- cgroup.memory=nosocket", false},
		{`quiet "--" cgroup.memory=nosocket`, false},
	} {
		if got := nosocketBoot(c.cmdline); got != c.want {
			t.Errorf("nosocketBoot(%q) = %v, want %v", c.cmdline, got, c.want)
		}
	}
}

// TestSocketMemoryUnderNosocket: a manager on a kernel booted with
// cgroup.memory=nosocket says ErrSocketMemory, whatever files it has.
func TestSocketMemoryUnderNosocket(t *testing.T) {
	m := &Manager{info: manager(t).info, impl: manager(t).impl, nosocket: true}
	if err := m.SocketMemory(); !errors.Is(err, ErrSocketMemory) || !strings.Contains(err.Error(), "nosocket") {
		t.Fatalf("SocketMemory() = %v, want ErrSocketMemory naming nosocket", err)
	}
}
