package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procInfo is what the bench needs of one process.
type procInfo struct {
	ppid int
	args []string
}

// procTable is a snapshot of every process on the host, by pid.
type procTable map[int]procInfo

// scanProcs reads /proc. Processes that end while it reads are left out.
func scanProcs() (procTable, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, fmt.Errorf("bench: scan /proc: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("bench: scan /proc: %w", err)
	}
	t := procTable{}
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + n + "/stat")
		if err != nil {
			continue
		}
		// The command name may hold spaces and parentheses: the fields
		// after it start past the last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		cmdline, _ := os.ReadFile("/proc/" + n + "/cmdline")
		t[pid] = procInfo{ppid: ppid, args: strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")}
	}
	return t, nil
}

// marked lists the processes with an argument equal to marker.
func (t procTable) marked(marker string) []int {
	var pids []int
	for pid, p := range t {
		for _, a := range p.args {
			if a == marker {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// ancestors is pid's parent chain, pid excluded, up to and including pid 1.
func (t procTable) ancestors(pid int) map[int]bool {
	seen := map[int]bool{}
	for p, ok := t[pid]; ok && p.ppid > 0 && !seen[p.ppid]; p, ok = t[p.ppid] {
		seen[p.ppid] = true
	}
	return seen
}

// descendants adds pid and every process below it to set.
func (t procTable) descendants(pid int, set map[int]bool) {
	children := map[int][]int{}
	for c, p := range t {
		children[p.ppid] = append(children[p.ppid], c)
	}
	stack := []int{pid}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if set[p] {
			continue
		}
		set[p] = true
		stack = append(stack, children[p]...)
	}
}

// boxOf is the set of processes that belong to the box a marked process runs
// in: climb from it through its parents while they are neither the bench
// process, one of its ancestors nor pid 1, then take that topmost process and
// everything below it.
func (t procTable) boxOf(pid, self int) map[int]bool {
	stop := t.ancestors(self)
	stop[self], stop[1], stop[0] = true, true, true
	top := pid
	for {
		p, ok := t[top]
		if !ok || stop[p.ppid] {
			break
		}
		top = p.ppid
	}
	set := map[int]bool{}
	t.descendants(top, set)
	return set
}

// pssBytes is the proportional set size of a process from
// /proc/PID/smaps_rollup: its private pages plus its share of every page it
// shares.
func pssBytes(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: pss of %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("bench: pss of %d: %q: %w", pid, line, err)
			}
			return kb << 10, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("bench: pss of %d: %w", pid, err)
	}
	// Kernel threads and zombies have no mappings.
	return 0, nil
}

// pssTotal sums the PSS of a set of processes; one that ended meanwhile
// counts zero.
func pssTotal(pids map[int]bool) int64 {
	var sum int64
	for pid := range pids {
		if n, err := pssBytes(pid); err == nil {
			sum += n
		}
	}
	return sum
}
