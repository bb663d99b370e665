package rlimit

// ProcessCPU: a process's CPU time read from /proc, for CPU limits without cgroups.

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"time"
)

// ProcessCPU is the CPU time of process pid (every thread) and of the
// children it reaped, from /proc/PID/stat: what a supervisor without cgroups
// polls against Limits.CPU, since RLIMIT_CPU is only a backstop above it.
func ProcessCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces: fields
	// start after the last ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, errors.New("rlimit: malformed /proc stat")
	}
	fields := strings.Fields(string(data[i+1:]))
	// After ')': state is field 3 of stat, so utime, stime, cutime and
	// cstime (14-17) are indexes 11-14 here.
	if len(fields) < 15 {
		return 0, errors.New("rlimit: short /proc stat")
	}
	var ticks int64
	for _, f := range fields[11:15] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ, fixed at 100 on every Linux ABI Go supports.
const clockTicks = 100
