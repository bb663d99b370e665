package probes

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// PrebuiltEnv names an environment variable holding the path of an already
// built static probe. Where it is set, Build copies that file instead of
// compiling: inside the kernel-matrix VMs there is no Go toolchain.
const PrebuiltEnv = "GOSANDBOX_PROBE"

// Build compiles the probe program, static, into dir and returns its path.
func Build(dir string) (string, error) {
	out := filepath.Join(dir, "probe")
	if prebuilt := os.Getenv(PrebuiltEnv); prebuilt != "" {
		data, err := os.ReadFile(prebuilt)
		if err != nil {
			return "", fmt.Errorf("probes: prebuilt probe from $%s: %w", PrebuiltEnv, err)
		}
		if err := os.WriteFile(out, data, 0o755); err != nil {
			return "", fmt.Errorf("probes: copy prebuilt probe: %w", err)
		}
		return out, nil
	}
	src, err := sourceDir()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("probes: build: %v\n%s", err, b)
	}
	return out, nil
}

// sourceDir finds the probe's source next to this file.
func sourceDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("probes: cannot locate the probe source")
	}
	return filepath.Join(filepath.Dir(file), "probe"), nil
}
