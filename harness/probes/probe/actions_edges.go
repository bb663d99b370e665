package main

// Actions for verdicts at the edges (B7) and output fidelity (B8): programs
// that behave like small C programs (default signal actions, write errors
// ignored) and programs that write exact bytes.

import (
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

func init() {
	register("raise", raiseSignal)
	register("flood-dfl", floodDefault)
	register("cpu-spin-to", cpuSpinTo)
	register("emit", emit)
}

// raise NAME: raise(3) as C has it, the signal's action the default
// (SIGTERM, SIGXCPU, SIGXFSZ, ...). raise ABRT-ABORT behaves as glibc's
// abort(3): SIGABRT, then, if the program is still alive, a fault. A
// program that survives its own signal prints survived=1 and exits 0, as
// a C program returning from raise would.
func raiseSignal(args []string) int {
	if len(args) != 1 {
		return 2
	}
	name, abort := args[0], false
	if name == "abort" {
		name, abort = "SIGABRT", true
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		fmt.Printf("error=unknown signal %s\n", name)
		return 2
	}
	if err := defaultAction(sig); err != nil {
		fmt.Printf("error=%s\n", errText(err))
		return 1
	}
	fmt.Printf("raising=%s\n", name)
	os.Stdout.Sync()
	unix.Tgkill(unix.Getpid(), unix.Gettid(), sig)
	time.Sleep(100 * time.Millisecond) // any pending delivery has happened by now
	fmt.Println("survived=1")
	if abort {
		defaultAction(unix.SIGSEGV)
		var p *int
		*p = 1
	}
	return 0
}

// flood-dfl SIZE: writes SIZE bytes to stdout with SIGXFSZ at its default
// action and write errors ignored, then exits 0: a C program that never
// checks what write returns.
func floodDefault(args []string) int {
	if len(args) != 1 {
		return 2
	}
	n, err := sandbox.ParseSize(args[0])
	if err != nil || n > 1<<30 {
		return 2
	}
	if err := defaultAction(unix.SIGXFSZ); err != nil {
		return 1
	}
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = 'y'
	}
	for written := int64(0); written < n; written += int64(len(buf)) {
		unix.Write(1, buf[:min(int64(len(buf)), n-written)])
	}
	return 0
}

// cpu-spin-to DURATION: spins until the process has used DURATION of CPU
// (or spinCap of wall time passed), then exits 0 on its own: a program that
// ends just over a CPU limit, between two looks of a supervisor.
func cpuSpinTo(args []string) int {
	if len(args) != 1 {
		return 2
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		return 2
	}
	deadline := time.Now().Add(spinCap)
	var ts unix.Timespec
	for time.Now().Before(deadline) {
		for i := 0; i < 1000; i++ {
			spinSink += i
		}
		unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts)
		if time.Duration(ts.Nano()) >= d {
			fmt.Printf("spun=%v\n", time.Duration(ts.Nano()))
			return 0
		}
	}
	fmt.Println("spun=gave-up")
	return 0
}

var spinSink int

// emit [-stderr] HEX [REPEAT]: writes the bytes HEX names, REPEAT times
// (default 1), to stdout (or stderr), ignoring write errors.
func emit(args []string) int {
	fd := 1
	if len(args) > 0 && args[0] == "-stderr" {
		fd, args = 2, args[1:]
	}
	if len(args) < 1 {
		return 2
	}
	b, err := hex.DecodeString(args[0])
	if err != nil || len(b) == 0 {
		return 2
	}
	repeat := int64(1)
	if len(args) > 1 {
		if repeat, err = strconv.ParseInt(args[1], 10, 64); err != nil || repeat < 0 {
			return 2
		}
	}
	// Write in big chunks: repeating a few bytes a million times one by one
	// would take seconds.
	chunk := b
	for int64(len(chunk)) < 64<<10 && repeat > 1 && int64(len(chunk))/int64(len(b)) < repeat {
		chunk = append(chunk, b...)
	}
	per := int64(len(chunk) / max(len(b), 1))
	for left := repeat; left > 0; {
		k := min(left, per)
		if _, err := unix.Write(fd, chunk[:k*int64(len(b))]); err != nil {
			return 1
		}
		left -= k
	}
	return 0
}
