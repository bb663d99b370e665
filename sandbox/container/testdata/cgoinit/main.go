// cgoinit is a cgo-linked program that embeds the container package, as the
// CLI does (package net links the C runtime): the dynamic loader relocates
// parts of the C library and then makes them read-only, and the init must
// keep those pages. Started without the init marker, it says ready and
// waits for its stdin to close, so that a test can read a never-trimmed process's maps.
package main

import (
	"io"
	"os"
	_ "runtime/cgo"

	"gosandbox/sandbox/container"
)

func main() {
	container.MaybeRunInit()
	os.Stdout.WriteString("ready\n")
	io.Copy(io.Discard, os.Stdin)
}
