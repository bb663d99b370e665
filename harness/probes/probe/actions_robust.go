package main

// Actions for the Robustness properties (B1-B6): plain, well-behaved programs
// whose outcome a sandbox must report exactly (an exit code, a file made), so
// that a spec can tell the program's doing from the sandbox's.

import (
	"fmt"
	"os"
	"strconv"
)

func init() {
	register("robust-exit", robustExit)
	register("robust-touch", robustTouch)
}

// robust-exit CODE: exit with CODE after printing it.
func robustExit(args []string) int {
	if len(args) != 1 {
		return 2
	}
	code, err := strconv.Atoi(args[0])
	if err != nil || code < 0 || code > 255 {
		return 2
	}
	fmt.Printf("exiting=%d\n", code)
	return code
}

// robust-touch PATH: create PATH, the side effect a run that should never
// have started would leave.
func robustTouch(args []string) int {
	if len(args) != 1 {
		return 2
	}
	if err := os.WriteFile(args[0], []byte("ran\n"), 0o644); err != nil {
		fmt.Printf("touch=%s\n", errName(err))
		return 1
	}
	fmt.Println("touch=ok")
	return 0
}
