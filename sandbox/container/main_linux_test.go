package container

// TestMain (the test binary is also the containers' init) and a container's build, ping and first run.

import (
	"context"
	"os"
	"testing"
	"time"

	"gosandbox/internal/testhost"
	"gosandbox/sandbox"
)

// The test binary is also the containers' init.
func TestMain(m *testing.M) {
	MaybeRunInit()
	os.Exit(m.Run())
}

func needRoot(t testing.TB) {
	t.Helper()
	testhost.NeedRoot(t, "containers (user namespaces with the box id mapping, cgroups)")
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func buildOne(t testing.TB, b *Builder) *Container {
	t.Helper()
	c, err := b.Build(testContext(t), Shape{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Destroy() })
	return c
}

func TestBuildPingRunTrue(t *testing.T) {
	needRoot(t)
	b := &Builder{InitStderr: os.Stderr}
	defer b.Close()
	c := buildOne(t, b)
	if err := c.Ping(testContext(t)); err != nil {
		t.Fatal(err)
	}
	res := c.Run(testContext(t), sandbox.Spec{Args: []string{"/bin/true"}})
	if res.Status != sandbox.StatusOK {
		t.Fatalf("result %+v", res)
	}
	t.Logf("%+v", res)
	if err := c.Reset(testContext(t)); err != nil {
		t.Fatal(err)
	}
	res = c.Run(testContext(t), sandbox.Spec{Args: []string{"/bin/false"}})
	if res.Status != sandbox.StatusNonzeroExit || res.ExitCode != 1 {
		t.Fatalf("result %+v", res)
	}
}

// TestBuildWithAFreshSkeleton takes the path of a build whose init found no
// skeleton: a fresh copy of the program makes it first.
func TestBuildWithAFreshSkeleton(t *testing.T) {
	needRoot(t)
	b := &Builder{}
	defer b.Close()
	b.init()
	c, err := b.build(testContext(t), Shape{Tmpfs: 3 << 20}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	if res := c.Run(testContext(t), sandbox.Spec{Args: []string{"/bin/true"}}); res.Status != sandbox.StatusOK {
		t.Fatalf("result %+v", res)
	}
}
