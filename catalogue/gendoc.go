//go:build ignore

// gendoc writes the catalogue's Markdown to the file named by its argument:
// go generate ./catalogue (or make docs) regenerates docs/conformance.md.
package main

import (
	"fmt"
	"os"

	"gosandbox/catalogue"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run gendoc.go OUTPUT.md")
		os.Exit(2)
	}
	if err := os.WriteFile(os.Args[1], catalogue.Markdown(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gendoc:", err)
		os.Exit(1)
	}
}
