package container

// The init's trim of its read-only file pages keeps the pages the dynamic loader wrote (a cgo-linked init).

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gosandbox/sandbox"
)

// TestTrimKeepsRelocatedPages: an init linked with the C library (as the
// CLI is) holds read-only private mappings whose pages are private copies:
// the dynamic loader's relocations (RELRO: the C library's GOT, the
// loader's own read-only globals), written at start and then made
// read-only. Dropped with the clean pages of the program, they would read
// back from the file unrelocated, and the init's next call into them (a
// thread started, a symbol bound late) would crash it. After the build
// (which trims) and after runs, every such mapping of a never-trimmed copy
// of the same program must still hold its private pages in the init.
func TestTrimKeepsRelocatedPages(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("cc"); err != nil {
		t.Skip("no C compiler: a cgo-linked init cannot be built")
	}
	dir, err := os.MkdirTemp("", "gosandbox-cgoinit-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// The init runs as an unprivileged host id, which must reach it.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "cgoinit")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/cgoinit")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the cgo init: %v\n%s", err, out)
	}

	ref := exec.Command(bin)
	stdin, err := ref.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := ref.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := ref.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
		t.Fatalf("the never-trimmed copy: %v", err)
	}
	want := relocatedMappings(t, ref.Process.Pid)
	stdin.Close()
	ref.Wait()
	if len(want) == 0 {
		t.Skip("the cgo-linked program has no read-only mapping with private pages (no RELRO here)")
	}

	b := &Builder{InitPath: bin, InitStderr: os.Stderr}
	defer b.Close()
	c := buildOne(t, b)
	check := func(when string) {
		t.Helper()
		got := relocatedMappings(t, c.InitPid())
		for m := range want {
			if !got[m] {
				t.Errorf("%s, the init's %s holds no private page (its relocations were dropped; a never-trimmed copy has them)", when, m)
			}
		}
	}
	check("after the build")
	ctx := testContext(t)
	for i := 0; i < 3; i++ {
		if r := c.Run(ctx, sandbox.Spec{Args: []string{"/bin/true"}}); r.Status != sandbox.StatusOK {
			t.Fatalf("run: %+v", r)
		}
		if err := c.Reset(ctx); err != nil {
			t.Fatal(err)
		}
	}
	check("after runs")
}

// relocatedMappings lists the read-only private file mappings of pid that
// hold anonymous (privately copied) pages, by file and offset.
func relocatedMappings(t *testing.T, pid int) map[string]bool {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	found := map[string]bool{}
	current := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		switch {
		case len(fl) >= 6 && strings.Contains(fl[0], "-") && !strings.HasSuffix(fl[0], ":"):
			current = ""
			if perms := fl[1]; perms[1] != 'w' && perms[3] == 'p' && strings.HasPrefix(fl[5], "/") {
				current = fmt.Sprintf("%s %s at offset %s", fl[5], perms, fl[2])
			}
		case current != "" && len(fl) >= 2 && fl[0] == "Anonymous:":
			if fl[1] != "0" {
				found[current] = true
			}
			current = ""
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return found
}

// TestTrimAllocatesNothing: the trim runs after the init has given its free
// heap back, so whatever it allocated would stay resident in the idle init.
func TestTrimAllocatesNothing(t *testing.T) {
	if n := testing.AllocsPerRun(3, dropCleanFilePages); n != 0 {
		t.Fatalf("dropCleanFilePages allocates %v times a call", n)
	}
}

// TestTrimKeepsSwappedOutCopies: a relocated page of a read-only mapping
// that the kernel swapped out (an idle init is what memory pressure swaps
// first) counts under Swap, not Anonymous; dropped, it would read back
// unrelocated from the file, as a resident one would.
func TestTrimKeepsSwappedOutCopies(t *testing.T) {
	const smaps = `7f0000000000-7f0000004000 r--p 001f0000 fe:00 1234                       /usr/lib/x86_64-linux-gnu/libc.so.6
Size:                 16 kB
Rss:                   0 kB
Anonymous:             0 kB
Swap:                 16 kB
VmFlags: rd mr mw me ac
7f0000010000-7f0000012000 r--p 00000000 fe:00 1234                       /usr/lib/x86_64-linux-gnu/libc.so.6
Size:                  8 kB
Rss:                   8 kB
Anonymous:             0 kB
Swap:                  0 kB
VmFlags: rd mr mw me
7f0000020000-7f0000021000 r--p 00200000 fe:00 1234                       /usr/lib/x86_64-linux-gnu/libc.so.6
Size:                  4 kB
Anonymous:             4 kB
Swap:                  0 kB
VmFlags: rd mr mw me ac
`
	p, err := os.CreateTemp(t.TempDir(), "smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.WriteString(smaps); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	var dropped []string
	trimMappings(int(p.Fd()), func(start, end uint64) {
		dropped = append(dropped, fmt.Sprintf("%x-%x", start, end))
	})
	if want := []string{"7f0000010000-7f0000012000"}; !slices.Equal(dropped, want) {
		t.Errorf("dropped %v; want only %v (the first mapping's private copies are swapped out, the third's resident)", dropped, want)
	}
}
