package bench

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/bench/benchjson"
)

// environment describes this machine; LoadAfter is filled in at the end.
func environment() benchjson.Environment {
	env := benchjson.Environment{
		Kernel:     kernel(),
		CgroupMode: cgroupMode("/sys/fs/cgroup"),
		CPUModel:   cpuModel(),
		Cores:      runtime.NumCPU(),
		LoadBefore: loadAverage(),
		GoVersion:  runtime.Version(),
		Versions:   map[string]string{"gosandbox": selfVersion()},
	}
	for tool, args := range map[string][]string{
		"bwrap":    {"--version"},
		"firejail": {"--version"},
		"gcc":      {"--version"},
	} {
		if v := toolVersion(tool, args...); v != "" {
			env.Versions[tool] = v
		}
	}
	return env
}

func kernel() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown: " + err.Error()
	}
	return unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Version[:])
}

// cgroupMode tells the cgroup layout from the filesystem mounted at root:
// cgroup2 there is "v2"; a tmpfs of v1 hierarchies is "hybrid" when a cgroup2
// also sits at root/unified, "v1" otherwise.
func cgroupMode(root string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return "none"
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "v2"
	}
	if err := unix.Statfs(root+"/unified", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "hybrid"
	}
	entries, err := os.ReadDir(root)
	if err != nil || len(entries) == 0 {
		return "none"
	}
	return "v1"
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// loadAverage reads the 1, 5 and 15 minute load averages; zeros when
// /proc/loadavg is unreadable.
func loadAverage() [3]float64 {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	for i, f := range strings.Fields(string(b)) {
		if i == 3 {
			break
		}
		l[i], _ = strconv.ParseFloat(f, 64)
	}
	return l
}

// toolVersion is the first line a tool prints for its version, or "" when it
// is not installed.
func toolVersion(name string, args ...string) string {
	path, err := exec.LookPath(name)
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).Output()
	if err != nil {
		return ""
	}
	line, _, _ := bytes.Cut(out, []byte("\n"))
	return strings.TrimSpace(string(line))
}

// selfVersion is the module version and VCS revision this binary was built
// from, as far as the build recorded them.
func selfVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v += " " + s.Value
		case "vcs.modified":
			if s.Value == "true" {
				v += " (modified)"
			}
		}
	}
	return v
}
