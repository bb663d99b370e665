package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestServeUsageErrors(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	for _, tc := range []struct {
		args    []string
		mention string
	}{
		{[]string{"--backend", "none"}, `--backend "none"`},
		{[]string{"--token-file", "/nonexistent/token"}, "--token-file"},
		{[]string{"--token-file", empty}, "one token"},
		{[]string{"--queue", "0"}, "--queue"},
		{[]string{"--max-output", "0"}, "--max-output"},
		{[]string{"--max-wall", "-1s"}, "--max-wall"},
		{[]string{"--max-conns", "0"}, "--max-conns"},
		{[]string{"--max-answer", "64MiB"}, "--max-answer"},
		{[]string{"--trust-clients", "--copy-in-root", "/"}, "choose one"},
		{[]string{"--max-tmpfs", "99999999999999999999GiB"}, "max-tmpfs"},
		{[]string{"--listen", "not an address"}, "--listen"},
	} {
		code, _, stderr := runCLI(t, t.TempDir(), "", append([]string{"serve"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.mention) {
			t.Errorf("%v: exit %d, stderr %q; want 2 mentioning %q", tc.args, code, stderr, tc.mention)
		}
	}
}

// TestServeSIGTERMDrainsAndLeavesHostClean: `gosandbox serve` on a
// loopback port with a token; two runs in flight when SIGTERM comes are
// answered, the process exits 0, and nothing of it is left on the host
// (processes, cgroups, mounts, work directories named by its pid).
func TestServeSIGTERMDrainsAndLeavesHostClean(t *testing.T) {
	needRoot(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("t0ken\n"), 0o600)
	cmd := exec.Command(gosandboxBin, "serve", "--listen", "127.0.0.1:0", "--backend", "container", "--pool", "2", "--token-file", tokenFile)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer cmd.Process.Kill()
	logs := bufio.NewScanner(stderr)
	var addr string
	for addr == "" && logs.Scan() {
		var l struct{ Msg, Addr string }
		if json.Unmarshal(logs.Bytes(), &l) == nil && l.Msg == "listening" {
			addr = l.Addr
		}
	}
	if addr == "" {
		t.Fatal("no listening line on stderr")
	}
	var logLines []string
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		for logs.Scan() {
			logLines = append(logLines, logs.Text())
		}
	}()
	base := "http://" + addr
	do := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer t0ken")
		resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var wg sync.WaitGroup
	answers := make([]string, 2)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body := do("POST", "/run", fmt.Sprintf(`{"id":"r%d","args":["/bin/sh","-c","sleep 1; echo done"]}`, i))
			answers[i] = fmt.Sprintf("%d %s", code, body)
		}()
	}
	busy := regexp.MustCompile(`(?m)^gosandbox_pool_slots\{state="busy"\} 2$`)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if _, m := do("GET", "/metrics", ""); busy.MatchString(m) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the two runs never held both containers")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	<-logsDone
	err = cmd.Wait()
	if err != nil {
		t.Errorf("serve after SIGTERM: %v\n%s", err, strings.Join(logLines, "\n"))
	}
	for i, a := range answers {
		if !strings.HasPrefix(a, "200 ") || !strings.Contains(a, `"stdout":"done\n"`) {
			t.Errorf("run %d in flight at SIGTERM: %s", i, a)
		}
	}
	runLines := 0
	for _, l := range logLines {
		if strings.Contains(l, `"msg":"run"`) && strings.Contains(l, `"status":"ok"`) {
			runLines++
		}
	}
	if runLines != 2 {
		t.Errorf("%d run log lines, want 2:\n%s", runLines, strings.Join(logLines, "\n"))
	}
	for _, left := range leftOf(pid) {
		t.Errorf("left on the host: %s", left)
	}
}

// leftOf lists what a gosandbox process left: processes still running its
// binary, and cgroups, mounts and work directories named KIND-PID-N for
// its pid.
func leftOf(pid int) []string {
	var left []string
	procs, _ := filepath.Glob("/proc/[0-9]*/exe")
	for _, p := range procs {
		if exe, err := os.Readlink(p); err == nil && (exe == gosandboxBin || exe == gosandboxBin+" (deleted)") {
			left = append(left, "process "+filepath.Dir(p))
		}
	}
	tagged := regexp.MustCompile(`^[a-z]+-` + strconv.Itoa(pid) + `-[a-z0-9-]+$`)
	filepath.WalkDir("/sys/fs/cgroup", func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && tagged.MatchString(d.Name()) {
			left = append(left, "cgroup "+p)
		}
		return nil
	})
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(mi), "\n") {
			if f := strings.Fields(line); len(f) > 4 && tagged.MatchString(filepath.Base(f[4])) {
				left = append(left, "mount "+f[4])
			}
		}
	}
	if dirs, err := filepath.Glob("/run/gosandbox/*/*"); err == nil {
		for _, d := range dirs {
			if tagged.MatchString(filepath.Base(d)) {
				left = append(left, "dir "+d)
			}
		}
	}
	return left
}
