// Package benchjson is the layout of out/bench/bench.json, schema
// "gosandbox-bench/1": the bench writes it (package bench) and the reports
// read it (package reports). It holds types only and imports nothing of the
// repository, so the reports can read results without linking the backends
// the bench drives.
//
// Fields without "omitempty" are always present; lists are [] rather than null.
//
//	schema        string    "gosandbox-bench/1"
//	quick         bool      a smoke run (--quick): too few samples to quote
//	started, finished       RFC 3339 times (UTC)
//	environment   object    kernel (release and version), cgroup_mode ("v1", "v2",
//	                        "hybrid", "none"), cpu_model, cores, load_before and
//	                        load_after ([1, 5, 15] minute load averages), go_version,
//	                        versions (tool -> first line of its version: gosandbox,
//	                        bwrap, firejail, gcc; a missing tool is absent)
//	scenarios     list      in the order run: startup, arrivals, throughput, serve,
//	                        warmup, reset, memory, disk (those asked for)
//	  name, description     what was measured and exactly how
//	  series      list      one variant each:
//	    backend   string    harness backend, or for disk layouts the bench itself
//	                        builds: "rootfs-copy", "overlay-upper"
//	    program   string    "true" (/bin/true), "static" (the static C program),
//	                        "/usr/bin/true" (the closure copied); may be absent
//	    param, value        the parameter varied and its value: "concurrency",
//	                        "pool_size", "slots", "gap_ms" (arrivals: the gap
//	                        between scheduled starts, the mean gap for Poisson),
//	                        or "layout" (value absent)
//	    variant   string    warmup: "ready", "open-returned"; reset: "hook" (the
//	                        reset cost), or without the hook "back-to-back" and
//	                        "spaced" run latencies (context, not the cost);
//	                        arrivals: "fixed", "poisson" (the schedule); serve:
//	                        "requests-per-second" (one sample per window),
//	                        "latency" (every request); memory:
//	                        "idle-total", "busy-total", "idle-per-slot",
//	                        "busy-per-slot" (PSS); "kernel-idle-total",
//	                        "kernel-busy-total", "kernel-idle-per-slot",
//	                        "kernel-busy-per-slot" (/proc/meminfo delta of
//	                        SUnreclaim + KernelStack + PageTables); "slab-",
//	                        "sunreclaim-", "kernelstack-", "pagetables-" +
//	                        "idle-per-slot"/"busy-per-slot" (each counter);
//	                        "kmem-idle-per-slot", "kmem-busy-per-slot" (memcg
//	                        kernel memory, where the boxes have a memory cgroup);
//	                        "total-idle-per-slot", "total-busy-per-slot" (PSS +
//	                        kernel); "kernel-drift" (the host's own change of
//	                        the kernel sum over a quiet window); disk: "shared-binds",
//	                        "shared-binds-fs-delta", "rootfs-copy", "overlay-upper";
//	                        absent for startup and throughput
//	    unit      string    "ns", "runs/s", "requests/s" or "bytes"
//	    samples   list      every raw sample, in the order measured
//	    summary   object    n, min, p50, p90, p99, max, mean of samples
//	    ratio_to_floor      summary.p50 / p50 of the backend "none" series with
//	                        the same program, param, value and variant; absent
//	                        (0) when there is no such series, either p50 is not
//	                        positive, or the series is a kernel-memory one
//	                        (kernel-*, slab-*, sunreclaim-*, kernelstack-*,
//	                        pagetables-*, kmem-*, total-*)
//	    noisy     string    why this series alone is not to be trusted (memory:
//	                        the host's kernel drift at least the delta); absent
//	                        otherwise
//	  noisy, noisy_reason   see package bench, Method
//	  errors      list      what could not be measured, with the reason
//	claims        list      the seed design's claims: claim, seed (its figure),
//	                        measured (the figures, in words), verdict ("holds",
//	                        "does not hold", "not measured"), ratio (the figure
//	                        the verdict rests on), rule (how it was decided)
//	errors        list      backends or scenarios that could not run at all
//
// Percentiles interpolate linearly between the closest ranks (R-7, numpy's
// default): for sorted samples s of length n, rank h = (n-1)·p/100 and
// p = s[⌊h⌋] + (h-⌊h⌋)·(s[⌊h⌋+1]-s[⌊h⌋]). A series without samples is left
// out (its failures are in errors).
//
// Scenario series by name:
//
//	startup     backend × program, unit ns: time of one Backend.Run
//	arrivals    backend × schedule (variant) × gap_ms, unit ns: from the
//	            scheduled start to the return of Backend.Run
//	throughput  backend × concurrency, unit runs/s
//	serve       sandbox backend (those gosandbox serve accepts) × concurrency
//	            × variant: requests-per-second (unit requests/s) and latency
//	            (unit ns, client side, every request); no floor
//	warmup      pooled backend × pool_size × variant, unit ns
//	reset       pooled backend × variant, unit ns
//	memory      backend × slots × variant, unit bytes (PSS, kernel, total)
//	disk        backend × variant (layout), unit bytes (allocated blocks)
package benchjson
