package reports

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// chromiumArgs are the flags that make headless Chromium quiet and
// self-contained: no sandbox (we are root), no network chatter, a fresh
// profile every time.
func chromiumArgs(profile string) []string {
	return []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + profile, "--window-size=1280,2000"}
}

// runChromium runs Chromium in its own process group and kills the group
// afterwards, so no renderer or zygote outlives the test.
func runChromium(t *testing.T, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skipf("chromium not installed (apt-get install -y chromium): %v", err)
	}
	// A generous guard against a hung browser, not a performance limit.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Chromium keeps its own temporary files under TMPDIR; point it at the
	// test's directory so they go away with it.
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir(), "HOME="+t.TempDir())
	err = cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, lastLines(stderr.String(), 20))
	}
	return stdout.Bytes()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestChromiumRendersReport opens the full fixture's report in headless
// Chromium: the DOM must hold an <img> per chart, and the screenshot must
// show the charts (the backends' colours appear only inside the images).
func TestChromiumRendersReport(t *testing.T) {
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Skipf("chromium not installed (apt-get install -y chromium): %v", err)
	}
	out := t.TempDir()
	res, err := Generate(filepath.Join("testdata", "full"), out)
	if err != nil {
		t.Fatal(err)
	}
	url := "file://" + res.HTML

	dom := runChromium(t, append(chromiumArgs(t.TempDir()), "--dump-dom", url)...)
	doc, err := html.Parse(bytes.NewReader(dom))
	if err != nil {
		t.Fatalf("dumped DOM does not parse: %v", err)
	}
	var srcs []string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "img" {
			for _, a := range n.Attr {
				if a.Key == "src" && strings.HasPrefix(a.Val, chartDir+"/") {
					srcs = append(srcs, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if len(srcs) != len(res.Charts) || len(srcs) == 0 {
		t.Errorf("DOM has %d chart images, want %d", len(srcs), len(res.Charts))
	}

	shot := filepath.Join(t.TempDir(), "report.png")
	runChromium(t, append(chromiumArgs(t.TempDir()), "--screenshot="+shot, url)...)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if n := distinctColors(img, 64); n < 64 {
		t.Errorf("screenshot has %d distinct colours: a blank page?", n)
	}
	for _, backend := range []string{"oneshot", "container"} {
		if n := pixelsNear(img, backendColors[backend], 40); n < 200 {
			t.Errorf("screenshot has %d pixels of %s's chart colour: the charts did not render", n, backend)
		}
	}
	if *keep != "" {
		data, err := os.ReadFile(shot)
		if err == nil {
			err = os.WriteFile(filepath.Join(*keep, "screenshot.png"), data, 0o644)
		}
		if err != nil {
			t.Error(err)
		}
	}
}

// distinctColors counts the colours in img, stopping at limit.
func distinctColors(img image.Image, limit int) int {
	seen := map[color.RGBA64]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[color.RGBA64{uint16(r), uint16(g), uint16(bl), uint16(a)}] = true
			if len(seen) >= limit {
				return len(seen)
			}
		}
	}
	return len(seen)
}

// pixelsNear counts the pixels within tol (per 8-bit channel) of c.
func pixelsNear(img image.Image, c color.Color, tol int) int {
	cr, cg, cb, _ := c.RGBA()
	near := func(a, b uint32) bool {
		d := int(a>>8) - int(b>>8)
		return d <= tol && d >= -tol
	}
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r, cr) && near(g, cg) && near(bl, cb) {
				n++
			}
		}
	}
	return n
}
