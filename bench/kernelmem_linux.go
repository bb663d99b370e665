package bench

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// kernelCounters are the /proc/meminfo fields the memory scenario follows,
// by the name of their series (variant prefix).
var kernelCounters = []struct{ field, name string }{
	{"Slab", "slab"},
	{"SUnreclaim", "sunreclaim"},
	{"KernelStack", "kernelstack"},
	{"PageTables", "pagetables"},
}

// meminfo is a snapshot of /proc/meminfo, in bytes by field.
type meminfo map[string]int64

func readMeminfo() (meminfo, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return nil, fmt.Errorf("bench: meminfo: %w", err)
	}
	defer f.Close()
	m := meminfo{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		if len(fields) > 1 && fields[1] == "kB" {
			n <<= 10
		}
		m[name] = n
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("bench: meminfo: %w", err)
	}
	for _, c := range kernelCounters {
		if _, ok := m[c.field]; !ok {
			return nil, fmt.Errorf("bench: meminfo: no %s field", c.field)
		}
	}
	return m, nil
}

// kernel is the memory the kernel holds that no cache shrinker gives back:
// unreclaimable slab, kernel stacks and page tables. Reclaimable slab
// (dentries, inodes) is left out of the sum: it is cache, and it moves with
// every file any process on the host opens.
func (m meminfo) kernel() int64 { return m["SUnreclaim"] + m["KernelStack"] + m["PageTables"] }

// delta is after minus before, field by field, plus "kernel" (the sum).
func (m meminfo) delta(before meminfo) map[string]int64 {
	d := map[string]int64{"kernel": m.kernel() - before.kernel()}
	for _, c := range kernelCounters {
		d[c.name] = m[c.field] - before[c.field]
	}
	return d
}

// memcgKmem sums the kernel memory charged to the memory cgroups the given
// processes are in: memory.kmem.usage_in_bytes on cgroup v1, the "kernel"
// line of memory.stat on v2. Cgroups that hold the bench process itself (its
// own and their ancestors) are left out: they would count the whole host.
// A cgroup inside another of the set is counted once, through the outer one
// (the counters are hierarchical). ok is false when no process had a cgroup
// of its own with such a counter.
func memcgKmem(pids map[int]bool) (sum int64, ok bool) {
	v1, v2 := memcgMounts()
	self := memcgOf(os.Getpid())
	var paths []string // "v1:/path" or "v2:/path"
	for pid := range pids {
		p := memcgOf(pid)
		if p == "" || p == self || strings.HasPrefix(self+"/", strings.TrimSuffix(p, "/")+"/") {
			continue
		}
		if !slices.Contains(paths, p) {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths) // an ancestor sorts before its descendants
	var counted []string
	for _, p := range paths {
		if slices.ContainsFunc(counted, func(a string) bool { return strings.HasPrefix(p, strings.TrimSuffix(a, "/")+"/") }) {
			continue
		}
		kind, rel, _ := strings.Cut(p, ":")
		var n int64
		var err error
		switch {
		case kind == "v1" && v1 != "":
			n, err = readInt(filepath.Join(v1, rel, "memory.kmem.usage_in_bytes"))
		case kind == "v2" && v2 != "":
			n, err = statField(filepath.Join(v2, rel, "memory.stat"), "kernel")
		default:
			continue
		}
		if err != nil {
			continue // the cgroup went away, or has no kmem counter
		}
		counted = append(counted, p)
		sum += n
		ok = true
	}
	return sum, ok
}

// memcgOf is the memory cgroup of pid as "v1:/path" (a v1 hierarchy with
// the memory controller) or "v2:/path" (the unified hierarchy, used when no
// v1 hierarchy has the memory controller); "" when unknown.
func memcgOf(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return ""
	}
	unified := ""
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			unified = "v2:" + parts[2]
			continue
		}
		if slices.Contains(strings.Split(parts[1], ","), "memory") {
			return "v1:" + parts[2]
		}
	}
	return unified
}

// memcgMounts finds the mount point of the v1 memory hierarchy and of the
// unified (v2) hierarchy when it has the memory controller; "" for none.
func memcgMounts() (v1, v2 string) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			continue
		}
		switch g[0] {
		case "cgroup":
			if v1 == "" && slices.Contains(strings.Split(g[2], ","), "memory") {
				v1 = f[4]
			}
		case "cgroup2":
			if v2 == "" {
				if c, err := os.ReadFile(filepath.Join(f[4], "cgroup.controllers")); err == nil &&
					slices.Contains(strings.Fields(string(c)), "memory") {
					v2 = f[4]
				}
			}
		}
	}
	return v1, v2
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// statField reads one "name value" line of a memory.stat file.
func statField(path, name string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == name {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s line", path, name)
}
