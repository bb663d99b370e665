// Command probe is run inside sandboxes by the conformance suites and the
// benchmarks: `probe ACTION [ARGS...]`. Each action does one thing, prints what
// it saw on stdout (one fact per line, "key=value" where it helps) and exits 0
// when it could act, 1 when it was refused or failed before acting.
//
// Actions live in files by area (actions_*.go), each registering itself with
// register. Hostile actions call mustBeBoxed first.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

type action func(args []string) int

var actions = map[string]action{}

func register(name string, fn action) {
	if _, dup := actions[name]; dup {
		panic("probe: action registered twice: " + name)
	}
	actions[name] = fn
}

func main() {
	if len(os.Args) < 2 {
		names := make([]string, 0, len(actions))
		for n := range actions {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "usage: probe ACTION [ARGS...]\nactions: %s\n", strings.Join(names, " "))
		os.Exit(2)
	}
	fn, ok := actions[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "probe: unknown action %q\n", os.Args[1])
		os.Exit(2)
	}
	os.Exit(fn(os.Args[2:]))
}

// mustBeBoxed refuses a hostile action on the host: in the initial pid
// namespace the kernel thread kthreadd is pid 2; in any other it is invisible.
// Without a readable /proc the probe cannot tell, and refuses too.
func mustBeBoxed() {
	comm, err := os.ReadFile("/proc/2/comm")
	if err == nil && strings.TrimSpace(string(comm)) == "kthreadd" {
		fmt.Println("refused=not inside a pid namespace")
		os.Exit(1)
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		fmt.Println("refused=no /proc to check for a pid namespace")
		os.Exit(1)
	}
}

func init() {
	register("true", func([]string) int { return 0 })
	register("echo", func(args []string) int {
		fmt.Println(strings.Join(args, " "))
		return 0
	})
}
