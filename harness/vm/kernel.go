package vm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// Kernel is a Debian kernel package the matrix boots.
type Kernel struct {
	Name string // column name: "5.10", "6.1", "6.12"
	// Dist is the Debian release whose archive (the release and its
	// -security suite) carries the kernel: "bullseye", "bookworm".
	Dist string
	// Package is the package to resolve: a metapackage (whose first
	// linux-image-* dependency is taken) or a linux-image-* package.
	Package string
}

// DefaultKernels are the Debian kernels of the matrix. Debian builds 6.12
// for bookworm in bookworm-security (source linux-6.12, metapackage
// linux-image-6.12-cloud-amd64); bookworm-backports carries an older 6.12
// under the plain linux-image-cloud-amd64 name.
var DefaultKernels = []Kernel{
	{Name: "5.10", Dist: "bullseye", Package: "linux-image-cloud-amd64"},
	{Name: "6.1", Dist: "bookworm", Package: "linux-image-cloud-amd64"},
	{Name: "6.12", Dist: "bookworm", Package: "linux-image-6.12-cloud-amd64"},
}

// KernelByName finds a kernel of DefaultKernels.
func KernelByName(name string) (Kernel, bool) {
	for _, k := range DefaultKernels {
		if k.Name == name {
			return k, true
		}
	}
	return Kernel{}, false
}

// ErrFetch wraps every failure to get a kernel (no network, a package gone
// from the archive): the column is reported as not booted, with the reason.
var ErrFetch = errors.New("vm: kernel fetch failed")

// Fetcher downloads Debian kernel packages through a private apt
// configuration under CacheDir (its own sources.list, state and cache
// directories), never the host's sources, and keeps the extracted vmlinuz
// so that later runs download nothing.
type Fetcher struct {
	CacheDir string // out/matrix/cache
	Mirror   string // default http://deb.debian.org
	Log      func(format string, args ...any)

	mu      sync.Mutex
	updated map[string]error
}

// FetchedKernel is a kernel ready to boot.
type FetchedKernel struct {
	Kernel
	Image   string // path of vmlinuz
	Package string // the linux-image package and version it came from
}

// Fetch returns the kernel image, downloading and extracting it the first
// time.
func (f *Fetcher) Fetch(ctx context.Context, k Kernel) (FetchedKernel, error) {
	fk := FetchedKernel{Kernel: k}
	dir := filepath.Join(f.CacheDir, "kernels", k.Dist, k.Package)
	image := filepath.Join(dir, "vmlinuz")
	stamp := filepath.Join(dir, "package")
	if b, err := os.ReadFile(stamp); err == nil {
		if _, err := os.Stat(image); err == nil {
			fk.Image, fk.Package = image, strings.TrimSpace(string(b))
			return fk, nil
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock() // one apt at a time: they share lock files
	if err := f.update(ctx, k.Dist); err != nil {
		return fk, err
	}
	pkg, version, err := f.resolve(ctx, k)
	if err != nil {
		return fk, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fk, fmt.Errorf("vm: kernel cache: %w", err)
	}
	f.logf("downloading %s %s (%s)", pkg, version, k.Dist)
	if _, err := f.apt(ctx, k.Dist, dir, "apt-get", "download", pkg+"="+version); err != nil {
		return fk, err
	}
	debs, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if len(debs) == 0 {
		return fk, fmt.Errorf("%w: %s: apt-get download left no .deb in %s", ErrFetch, pkg, dir)
	}
	tree := filepath.Join(dir, "tree")
	os.RemoveAll(tree)
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", debs[0], tree).CombinedOutput(); err != nil {
		return fk, fmt.Errorf("%w: dpkg-deb -x %s: %v: %s", ErrFetch, debs[0], err, out)
	}
	defer os.RemoveAll(tree)
	images, _ := filepath.Glob(filepath.Join(tree, "boot", "vmlinuz-*"))
	if len(images) == 0 {
		return fk, fmt.Errorf("%w: %s has no boot/vmlinuz-*", ErrFetch, debs[0])
	}
	if err := os.Rename(images[0], image); err != nil {
		return fk, fmt.Errorf("vm: kernel cache: %w", err)
	}
	// The image is all we boot (the initramfs has no modules): drop the .deb.
	for _, d := range debs {
		os.Remove(d)
	}
	fk.Image, fk.Package = image, pkg+" "+version
	if err := os.WriteFile(stamp, []byte(fk.Package+"\n"), 0o644); err != nil {
		return fk, fmt.Errorf("vm: kernel cache: %w", err)
	}
	return fk, nil
}

func (f *Fetcher) logf(format string, args ...any) {
	if f.Log != nil {
		f.Log(format, args...)
	}
}

// aptRoot lays out the private apt configuration of one Debian release.
func (f *Fetcher) aptRoot(dist string) (string, error) {
	root, err := filepath.Abs(filepath.Join(f.CacheDir, "apt", dist))
	if err != nil {
		return "", err
	}
	for _, d := range []string{"etc/sources.list.d", "etc/preferences.d", "etc/apt.conf.d", "state/lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return "", fmt.Errorf("vm: apt root: %w", err)
		}
	}
	status := filepath.Join(root, "state", "status")
	if _, err := os.Stat(status); err != nil {
		if err := os.WriteFile(status, nil, 0o644); err != nil {
			return "", fmt.Errorf("vm: apt root: %w", err)
		}
	}
	mirror := f.Mirror
	if mirror == "" {
		mirror = "http://deb.debian.org"
	}
	const key = "/usr/share/keyrings/debian-archive-keyring.gpg"
	sources := fmt.Sprintf("deb [signed-by=%s] %s/debian %s main\ndeb [signed-by=%s] %s/debian-security %s-security main\n",
		key, mirror, dist, key, mirror, dist)
	if err := os.WriteFile(filepath.Join(root, "etc", "sources.list"), []byte(sources), 0o644); err != nil {
		return "", fmt.Errorf("vm: apt root: %w", err)
	}
	return root, nil
}

// apt runs an apt tool against the private configuration of dist, in dir.
func (f *Fetcher) apt(ctx context.Context, dist, dir, tool string, args ...string) ([]byte, error) {
	root, err := f.aptRoot(dist)
	if err != nil {
		return nil, err
	}
	opts := []string{
		"-o", "Dir::Etc=" + filepath.Join(root, "etc"),
		"-o", "Dir::Etc::SourceList=" + filepath.Join(root, "etc", "sources.list"),
		"-o", "Dir::Etc::SourceParts=" + filepath.Join(root, "etc", "sources.list.d"),
		"-o", "Dir::Etc::Parts=" + filepath.Join(root, "etc", "apt.conf.d"),
		"-o", "Dir::Etc::PreferencesParts=" + filepath.Join(root, "etc", "preferences.d"),
		"-o", "Dir::State=" + filepath.Join(root, "state"),
		"-o", "Dir::State::status=" + filepath.Join(root, "state", "status"),
		"-o", "Dir::Cache=" + filepath.Join(root, "cache"),
		"-o", "Acquire::Languages=none",
		"-o", "APT::Architecture=amd64",
		"-o", "Debug::NoLocking=1",
	}
	cmd := exec.CommandContext(ctx, tool, append(opts, args...)...)
	cmd.Dir = dir
	// apt-get download drops root to _apt, who must be able to write there.
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%w: %s %s: %v: %s", ErrFetch, tool, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func (f *Fetcher) update(ctx context.Context, dist string) error {
	if f.updated == nil {
		f.updated = map[string]error{}
	}
	if err, done := f.updated[dist]; done {
		return err
	}
	f.logf("apt-get update (private configuration for %s)", dist)
	_, err := f.apt(ctx, dist, os.TempDir(), "apt-get", "-q", "update")
	f.updated[dist] = err
	return err
}

// imageDep is compiled on first use: package initialisers run in every
// program that links this package, pooled container inits included.
var imageDep = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(linux-image-[^\s(|,]+)`) })

// resolve follows a metapackage to its linux-image package and returns the
// package and its candidate version.
func (f *Fetcher) resolve(ctx context.Context, k Kernel) (pkg, version string, err error) {
	pkg = k.Package
	for hops := 0; hops < 3; hops++ {
		out, err := f.apt(ctx, k.Dist, os.TempDir(), "apt-cache", "show", "--no-all-versions", pkg)
		if err != nil {
			return "", "", err
		}
		fields := debFields(out)
		version = fields["Version"]
		deb := fields["Filename"]
		if strings.Contains(deb, "/") && hasVmlinuz(fields) {
			return pkg, version, nil
		}
		var next string
		for _, dep := range strings.Split(fields["Depends"], ",") {
			if m := imageDep().FindStringSubmatch(strings.TrimSpace(dep)); m != nil {
				next = m[1]
				break
			}
		}
		if next == "" {
			return pkg, version, nil // a real image package without a linux-image dependency
		}
		pkg = next
	}
	return "", "", fmt.Errorf("%w: %s: no linux-image package found behind it", ErrFetch, k.Package)
}

// hasVmlinuz guesses from the name and size whether a package holds the
// image itself rather than depending on it.
func hasVmlinuz(fields map[string]string) bool {
	var size int
	fmt.Sscan(fields["Installed-Size"], &size)
	return size > 10000 // KiB: metapackages are a few KiB
}

// debFields parses the first stanza of a Debian control listing.
func debFields(b []byte) map[string]string {
	fields := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var last string
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if len(fields) > 0 {
				break
			}
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last != "" {
				fields[last] += "\n" + strings.TrimSpace(line)
			}
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			last = k
			fields[k] = strings.TrimSpace(v)
		}
	}
	return fields
}
