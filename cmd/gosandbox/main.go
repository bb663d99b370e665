// Command gosandbox runs untrusted programs in a sandbox and hosts the lab
// around it: run, batch, bench, report, matrix. It only parses flags; the work
// is done by the packages it calls. See README.md for the contract of each
// subcommand.
package main

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"gosandbox/harness"
	"gosandbox/sandbox/container"
)

// A command parses its own flags from args and returns the process exit status.
type command struct {
	summary string
	run     func(args []string) int
}

var commands = map[string]command{}

func main() {
	// A pooled container's init is this same binary, re-executed; it must take
	// over before anything else happens.
	container.MaybeRunInit()

	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	name := os.Args[1]
	if name == "-h" || name == "--help" || name == "help" {
		usage()
		os.Exit(0)
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "gosandbox: unknown command %q\n", name)
		usage()
		os.Exit(2)
	}
	os.Exit(cmd.run(os.Args[2:]))
}

func usage() {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(os.Stderr, "usage: gosandbox COMMAND [FLAGS] [ARGS]\n\ncommands:")
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\n'gosandbox COMMAND --help' shows a command's flags.")
}

// checkBackend refuses a backend that is not a real sandbox of this build
// (harness.Sandboxes: the calibration backend none and the external peers
// exist for the lab).
func checkBackend(name string) error {
	known := harness.Sandboxes()
	if !slices.Contains(known, name) {
		return fmt.Errorf("--backend %q: want %s (only real sandboxes can be selected)", name, strings.Join(known, " or "))
	}
	return nil
}
