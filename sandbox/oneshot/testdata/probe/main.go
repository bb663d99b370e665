// Command probe is the oneshot package's test program: each action does one
// thing a test needs (spin, sleep, allocate, flood, fork), some of them
// hostile, so those refuse to run outside a pid namespace.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe ACTION [ARGS]")
		os.Exit(2)
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "exit":
		n, _ := strconv.Atoi(args[0])
		os.Exit(n)
	case "spin":
		boxed()
		signal.Ignore(syscall.SIGXCPU)
		spin()
	case "spin-threads":
		boxed()
		signal.Ignore(syscall.SIGXCPU)
		n, _ := strconv.Atoi(args[0])
		runtime.GOMAXPROCS(n)
		for i := 1; i < n; i++ {
			go spin()
		}
		spin()
	case "spin-child":
		// The parent sleeps; only its child burns CPU (R2).
		boxed()
		run("spin")
	case "spin-cpu":
		// Spin until the process has used D of CPU, then exit 0: a run
		// that ends just past its CPU limit.
		d, _ := time.ParseDuration(args[0])
		for cpuUsed() < d {
			for i := 0; i < 1e5; i++ {
			}
		}
	case "write-once":
		// One write(2) of N bytes to stdout, its result ignored, exit 0:
		// RLIMIT_FSIZE cuts it short without any signal.
		n, _ := strconv.Atoi(args[0])
		syscall.Write(1, make([]byte, n))
	case "write-w":
		// Write N bytes to /w/NAME ignoring errors (Go ignores SIGXFSZ and
		// gets EFBIG), stay a moment so the supervisor sees the box, and
		// exit 0.
		n, _ := strconv.Atoi(args[1])
		os.WriteFile("/w/"+args[0], make([]byte, n), 0o644)
		time.Sleep(100 * time.Millisecond)
	case "sleep":
		d, _ := time.ParseDuration(args[0])
		time.Sleep(d)
	case "stop-child":
		// pid 1 of a pid namespace ignores its own SIGSTOP, so a child
		// stops itself and the parent waits for it forever.
		run("stop-self")
	case "stop-self":
		syscall.Kill(os.Getpid(), syscall.SIGSTOP)
	case "membomb":
		boxed()
		var keep [][]byte
		for {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			keep = append(keep, b)
		}
	case "touch":
		// Allocate and touch N MiB, then exit 0.
		n, _ := strconv.Atoi(args[0])
		b := make([]byte, n<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		runtime.KeepAlive(b)
	case "flood":
		boxed()
		line := []byte(strings.Repeat("x", 1023) + "\n")
		for {
			if _, err := os.Stdout.Write(line); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
	case "daemon":
		// Leave a detached child behind and exit.
		cmd := exec.Command("/proc/self/exe", "sleep", "1h")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println(cmd.Process.Pid)
	case "fds":
		ents, _ := os.ReadDir("/proc/self/fd")
		for _, e := range ents {
			fmt.Println(e.Name())
		}
	case "id":
		fmt.Printf("uid=%d gid=%d pid=%d host=%s\n", os.Getuid(), os.Getgid(), os.Getpid(), hostname())
	default:
		fmt.Fprintf(os.Stderr, "probe: unknown action %q\n", os.Args[1])
		os.Exit(2)
	}
}

func cpuUsed() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func hostname() string { h, _ := os.Hostname(); return h }

func spin() {
	for x := 0; ; x++ {
		_ = x
	}
}

func run(args ...string) {
	cmd := exec.Command("/proc/self/exe", args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
}

// boxed refuses hostile actions on the host: in the initial pid namespace
// kthreadd is pid 2; inside a box it is not visible.
func boxed() {
	comm, err := os.ReadFile("/proc/2/comm")
	if err == nil && strings.TrimSpace(string(comm)) == "kthreadd" {
		fmt.Fprintln(os.Stderr, "probe: refusing a hostile action outside a pid namespace")
		os.Exit(3)
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		fmt.Fprintln(os.Stderr, "probe: no /proc to check for a pid namespace")
		os.Exit(3)
	}
}
