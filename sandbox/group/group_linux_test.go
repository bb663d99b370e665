package group

// Tests of group runs: interactive pairs, pipelines, EPIPE, own boxes, groups larger than the pool, invalid groups.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"gosandbox/sandbox"
	"gosandbox/sandbox/container"
	"gosandbox/sandbox/oneshot"
	"gosandbox/sandbox/slots"
	"gosandbox/sandbox/workdir"
)

// The test binary is also the containers' init.
func TestMain(m *testing.M) {
	container.MaybeRunInit()
	os.Exit(m.Run())
}

// runners are the runners every group test runs on: a one-shot runner, a
// pool of poolSize containers and poolSize zero-process slots.
func runners(t *testing.T, poolSize int) map[string]sandbox.Runner {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("boxes need root here (user namespaces with the box id mapping, cgroups)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := container.NewPool(ctx, container.PoolOptions{Size: poolSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	s, err := slots.New(slots.Options{Size: poolSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close slots: %v", err)
		}
	})
	return map[string]sandbox.Runner{"oneshot": &oneshot.Runner{}, "container": p, "slots": s}
}

func sh(script string) sandbox.Spec { return sandbox.Spec{Args: []string{"/bin/sh", "-c", script}} }

func pipe(from, to string) sandbox.Pipe {
	f, err := sandbox.ParseStream(from)
	if err != nil {
		panic(err)
	}
	t, err := sandbox.ParseStream(to)
	if err != nil {
		panic(err)
	}
	return sandbox.Pipe{From: f, To: t}
}

// captured runs g with every stream the pipes leave free captured, and
// returns the result with each program's stdout and stderr.
func captured(t *testing.T, r sandbox.Runner, g sandbox.Group) (Result, []string, []string) {
	t.Helper()
	piped := map[sandbox.Stream]bool{}
	for _, p := range g.Pipes {
		piped[p.From], piped[p.To] = true, true
	}
	n := len(g.Programs)
	outs, errs := make([]*workdir.Capture, n), make([]*workdir.Capture, n)
	for i := range g.Programs {
		for _, c := range []struct {
			name string
			dst  **workdir.Capture
			f    **os.File
		}{{"stdout", &outs[i], &g.Programs[i].Stdout}, {"stderr", &errs[i], &g.Programs[i].Stderr}} {
			if piped[sandbox.Stream{Program: i, Name: c.name}] {
				continue
			}
			capture, err := workdir.NewCapture(1 << 20)
			if err != nil {
				t.Fatal(err)
			}
			*c.dst, *c.f = capture, capture.Writer()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, r, g, Options{})
	stdout, stderr := make([]string, n), make([]string, n)
	for i := range g.Programs {
		if outs[i] != nil {
			b, _ := outs[i].Wait()
			stdout[i] = string(b)
		}
		if errs[i] != nil {
			b, _ := errs[i].Wait()
			stderr[i] = string(b)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Programs) != n {
		t.Fatalf("%d results for %d programs", len(res.Programs), n)
	}
	return res, stdout, stderr
}

// The interactor picks 37 and answers each guess; the solution searches.
const (
	interactor = `secret=37; n=0
while read g; do
  n=$((n+1))
  if [ "$g" -lt $secret ]; then echo higher
  elif [ "$g" -gt $secret ]; then echo lower
  else echo correct; echo "found in $n" >&2; exit 0; fi
done
echo "no answer" >&2; exit 1`
	solution = `lo=1; hi=100
while :; do
  m=$(((lo+hi)/2)); echo $m; read r
  case $r in correct) exit 0;; higher) lo=$((m+1));; lower) hi=$((m-1));; *) exit 2;; esac
done`
)

func guessingGame() sandbox.Group {
	return sandbox.Group{
		Programs:   []sandbox.Spec{sh(interactor), sh(solution)},
		Pipes:      []sandbox.Pipe{pipe("0:stdout", "1:stdin"), pipe("1:stdout", "0:stdin")},
		Wall:       20 * time.Second,
		Transcript: 1 << 10,
	}
}

func TestGuessingGame(t *testing.T) {
	for name, r := range runners(t, 2) {
		t.Run(name, func(t *testing.T) {
			res, _, stderr := captured(t, r, guessingGame())
			for i, p := range res.Programs {
				if p.Status != sandbox.StatusOK {
					t.Errorf("program %d: %+v (stderr %q)", i, p, stderr[i])
				}
			}
			if stderr[0] != "found in 3\n" {
				t.Errorf("interactor says %q, want found in 3", stderr[0])
			}
			if got := string(res.Transcripts[1].Data); got != "50\n25\n37\n" {
				t.Errorf("solution's guesses %q", got)
			}
			if got := string(res.Transcripts[0].Data); got != "lower\nhigher\ncorrect\n" || res.Transcripts[0].Truncated {
				t.Errorf("interactor's answers %q (truncated %v)", got, res.Transcripts[0].Truncated)
			}
		})
	}
}

// TestSolutionNeverReads: the interactor blocks writing more than a pipe
// holds to a solution that sleeps; nothing hangs past the group's wall
// clock and both end with wall-limit.
func TestSolutionNeverReads(t *testing.T) {
	for name, r := range runners(t, 2) {
		t.Run(name, func(t *testing.T) {
			g := sandbox.Group{
				Programs: []sandbox.Spec{sh(`head -c 4194304 /dev/zero; read answer`), sh(`exec sleep 1000`)},
				Pipes:    []sandbox.Pipe{pipe("0:stdout", "1:stdin"), pipe("1:stdout", "0:stdin")},
				Wall:     time.Second,
			}
			res, _, _ := captured(t, r, g)
			for i, p := range res.Programs {
				if p.Status != sandbox.StatusWallLimit {
					t.Errorf("program %d: %s exit %d signal %q wall %v (%s), want wall-limit", i, p.Status, p.ExitCode, p.Signal, p.Wall(), p.Message)
				}
			}
		})
	}
}

// TestReaderExitsWriterGetsEPIPE: the reader takes 10 bytes and exits; the
// writer (SIGPIPE ignored) sees its write fail and says so; a writer that
// keeps SIGPIPE dies of it.
func TestReaderExitsWriterGetsEPIPE(t *testing.T) {
	for name, r := range runners(t, 2) {
		t.Run(name, func(t *testing.T) {
			g := sandbox.Group{
				Programs: []sandbox.Spec{
					sh(`trap '' PIPE; while :; do echo xxxxxxxx || { echo EPIPE >&2; exit 7; }; done`),
					sh(`exec head -c 10`),
				},
				Pipes: []sandbox.Pipe{pipe("0:stdout", "1:stdin")},
				Wall:  20 * time.Second,
			}
			res, stdout, stderr := captured(t, r, g)
			if w := res.Programs[0]; w.Status != sandbox.StatusNonzeroExit || w.ExitCode != 7 || !strings.Contains(stderr[0], "EPIPE") {
				t.Errorf("writer: %+v, stderr %q; want exit 7 after EPIPE", w, stderr[0])
			}
			if rd := res.Programs[1]; rd.Status != sandbox.StatusOK || stdout[1] != "xxxxxxxx\nx" {
				t.Errorf("reader: %+v, stdout %q", rd, stdout[1])
			}
			g.Programs[0] = sh(`exec yes`)
			res, _, _ = captured(t, r, g)
			if w := res.Programs[0]; w.Status != sandbox.StatusSignalled || w.Signal != "SIGPIPE" {
				t.Errorf("yes: %+v; want SIGPIPE", w)
			}
		})
	}
}

// TestPipelineOfThree: printf | sort | tr, each in its own box; the
// transcript keeps what crossed, bounded.
func TestPipelineOfThree(t *testing.T) {
	for name, r := range runners(t, 3) {
		t.Run(name, func(t *testing.T) {
			g := sandbox.Group{
				Programs: []sandbox.Spec{
					sh(`printf 'cherry\nbanana\napple\n'`),
					{Args: []string{"sort"}},
					{Args: []string{"tr", "a-z", "A-Z"}},
				},
				Pipes:      []sandbox.Pipe{pipe("0:stdout", "1:stdin"), pipe("1:stdout", "2:stdin")},
				Wall:       20 * time.Second,
				Transcript: 8,
			}
			res, stdout, _ := captured(t, r, g)
			for i, p := range res.Programs {
				if p.Status != sandbox.StatusOK {
					t.Errorf("program %d: %+v", i, p)
				}
			}
			if stdout[2] != "APPLE\nBANANA\nCHERRY\n" {
				t.Errorf("pipeline output %q", stdout[2])
			}
			for i, want := range []string{"cherry\nb", "apple\nba"} {
				tr := res.Transcripts[i]
				if string(tr.Data) != want || tr.Bytes != 20 || !tr.Truncated {
					t.Errorf("transcript %d: %q of %d bytes (truncated %v), want %q of 20", i, tr.Data, tr.Bytes, tr.Truncated, want)
				}
			}
		})
	}
}

// TestOwnBoxes: one program cannot see the other's files or processes.
func TestOwnBoxes(t *testing.T) {
	for name, r := range runners(t, 2) {
		t.Run(name, func(t *testing.T) {
			g := sandbox.Group{
				Programs: []sandbox.Spec{
					sh(`echo secret > mine; ls /proc | grep -c '^[0-9]' >&2; sleep 1; ls`),
					sh(`sleep 0.5; ls; ls /proc | grep -c '^[0-9]' >&2`),
				},
				Wall: 20 * time.Second,
			}
			_, stdout, _ := captured(t, r, g)
			if stdout[0] != "mine\n" || stdout[1] != "" {
				t.Errorf("work directories: %q and %q; want each its own", stdout[0], stdout[1])
			}
		})
	}
}

// TestGroupsLargerThanThePool: groups of 2 and 3 on a pool of 1 (containers
// or slots), several at once, all finish with the right answer:
// reservations never hold part of what another waits for, and single runs
// alongside them go on.
func TestGroupsLargerThanThePool(t *testing.T) {
	all := runners(t, 1)
	for _, name := range []string{"container", "slots"} {
		r := all[name]
		t.Run(name, func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for i := 0; i < 4; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					g := guessingGame()
					if i%2 == 1 {
						g.Programs = append(g.Programs, sandbox.Spec{Args: []string{"/bin/true"}})
					}
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					res, err := Run(ctx, r, g, Options{})
					if err != nil {
						errs <- err
						return
					}
					for j, p := range res.Programs {
						if p.Status != sandbox.StatusOK {
							errs <- fmt.Errorf("group %d program %d: %s %s (%s)", i, j, p.Status, p.Signal, p.Message)
						}
					}
				}()
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					res, err := r.Run(ctx, sandbox.Spec{Args: []string{"/bin/true"}, Limits: sandbox.Limits{Wall: 20 * time.Second}})
					if err != nil || res.Status != sandbox.StatusOK {
						errs <- fmt.Errorf("single run %d beside the groups: %s (%s), %v", i, res.Status, res.Message, err)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

func TestInvalidGroups(t *testing.T) {
	two := []sandbox.Spec{sh("true"), sh("true")}
	for _, tc := range []struct {
		g       sandbox.Group
		mention string
	}{
		{sandbox.Group{}, "no programs"},
		{sandbox.Group{Programs: two, Pipes: []sandbox.Pipe{pipe("0:stdout", "2:stdin")}}, "2:stdin: the group has programs 0 to 1"},
		{sandbox.Group{Programs: two, Pipes: []sandbox.Pipe{pipe("0:stdin", "1:stdin")}}, "0:stdin: a pipe goes from a stdout or stderr to a stdin"},
		{sandbox.Group{Programs: two, Pipes: []sandbox.Pipe{pipe("0:stdout", "1:stdin"), pipe("0:stdout", "0:stdin")}}, "0:stdout is already in pipes[0]"},
		{sandbox.Group{Programs: []sandbox.Spec{{Args: []string{"x"}, Limits: sandbox.Limits{Wall: time.Second}}}}, "program 0: limits.wall"},
		{sandbox.Group{Programs: []sandbox.Spec{{}}}, "program 0: invalid spec: args"},
	} {
		_, err := Run(context.Background(), &oneshot.Runner{}, tc.g, Options{})
		if !errors.Is(err, sandbox.ErrInvalidSpec) || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%+v: %v; want invalid spec mentioning %q", tc.g, err, tc.mention)
		}
	}
	for _, s := range []string{"0", "x:stdout", "-1:stdout", "01:stdout", "0:stdio"} {
		if _, err := sandbox.ParseStream(s); err == nil {
			t.Errorf("ParseStream(%q) accepted", s)
		}
	}
}
