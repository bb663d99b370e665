package batch

// BenchmarkBatchVsFloor: a batch of /bin/true jobs per runner against the fork+exec floor.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"gosandbox/internal/testhost"
	"gosandbox/sandbox"
	"gosandbox/sandbox/container"
	"gosandbox/sandbox/oneshot"
	"gosandbox/sandbox/slots"
)

// batchBenchJobs is the batch of BenchmarkBatchVsFloor: as many /bin/true
// jobs as #11's goal names.
const batchBenchJobs = 300

// floorJobs runs /bin/true n times with a plain fork+exec+wait, nothing
// isolated: the floor a job's time is compared with.
func floorJobs(b *testing.B, n int) {
	for range n {
		testhost.FloorTrue(b)
	}
}

// BenchmarkBatchVsFloor times a batch of 300 /bin/true jobs through Run (the
// code of `gosandbox batch`) with one job at a time on one box of each
// runner (container --pool 1 --parallel 1, slots, oneshot), interleaved
// with 300 runs of the floor round by round (b.N rounds, -benchtime Nx),
// and reports the median per-job time of each as a ratio to the floor's.
// The runners are built before the first round: their build is not a
// job's cost.
func BenchmarkBatchVsFloor(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("the runners need root")
	}
	ctx := context.Background()
	pool, err := container.NewPool(ctx, container.PoolOptions{Size: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	sr, err := slots.New(slots.Options{Size: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer sr.Close()
	runners := []struct {
		name string
		r    sandbox.Runner
	}{{"container", pool}, {"slots", sr}, {"oneshot", &oneshot.Runner{}}}

	var jobs strings.Builder
	for i := range batchBenchJobs {
		fmt.Fprintf(&jobs, `{"id":"j%d","args":["/bin/true"]}`+"\n", i)
	}
	input := jobs.String()
	perJob := map[string][]time.Duration{}
	timed := func(name string, f func()) {
		start := time.Now()
		f()
		perJob[name] = append(perJob[name], time.Since(start)/batchBenchJobs)
	}
	batch := func(r sandbox.Runner) {
		var out bytes.Buffer
		stats, err := Run(ctx, r, strings.NewReader(input), &out, Options{Parallel: 1})
		if err != nil || stats.Jobs != batchBenchJobs || strings.Count(out.String(), `"status":"ok"`) != batchBenchJobs {
			b.Fatalf("batch: %v, %+v, %d ok of %d", err, stats, strings.Count(out.String(), `"status":"ok"`), batchBenchJobs)
		}
	}
	// One warm-up batch each, thrown away.
	floorJobs(b, batchBenchJobs/10)
	for _, r := range runners {
		var discard bytes.Buffer
		Run(ctx, r.r, strings.NewReader(input[:strings.Index(input, "\n")+1]), &discard, Options{Parallel: 1})
	}
	b.ResetTimer()
	for range b.N {
		timed("floor", func() { floorJobs(b, batchBenchJobs) })
		for _, r := range runners {
			timed(r.name, func() { batch(r.r) })
		}
	}
	b.StopTimer()
	median := func(d []time.Duration) time.Duration { return testhost.Quantile(d, 0.5) }
	floor := median(perJob["floor"])
	b.ReportMetric(float64(floor.Microseconds()), "floor-us/job")
	for _, r := range runners {
		m := median(perJob[r.name])
		b.ReportMetric(float64(m.Microseconds()), r.name+"-us/job")
		b.ReportMetric(float64(m)/float64(floor), r.name+"/floor")
	}
}
