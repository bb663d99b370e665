#!/usr/bin/env python3
"""On-CPU, run-queue and sleep time of each /bin/true a benchmark starts,
split at its exec, for the floor (children of the benchmark process itself)
and for the boxes (children of anything else, such as a container's init).

    perf record -a -o sched.data -e sched:sched_process_fork,sched:sched_process_exec,\
        sched:sched_process_exit,sched:sched_switch -- \
        ./container.test -test.run XXX -test.bench 'ForkExecFloor|PooledTrue$' -test.benchtime 300x
    perf script -i sched.data -F comm,pid,tid,cpu,time,event,trace > sched.txt
    python3 docs/tools/sched_phases.py sched.txt

Wall-clock splits (BenchmarkIngredients, BenchmarkNamespacesSteps) count a
child's waits; this one does not, so it tells "the program ran longer" from
"the program waited".
"""
import collections
import re
import statistics
import sys

LINE = re.compile(r"^\s*(.*?)\s+(-?\d+)/(-?\d+)\s+\[(\d+)\]\s+([\d.]+):\s+\w+:(\w+):\s*(.*)$")
TRUE = ("/bin/true", "/usr/bin/true")


def main(path):
    bench = None  # the benchmark's process: the first exec traced
    fork, parent, execs, exits = {}, {}, {}, {}
    spans = collections.defaultdict(list)  # pid -> (start, end, run|wait|sleep)
    on, off = {}, {}
    for line in open(path):
        m = LINE.match(line)
        if not m:
            continue
        _, tgid, tid, _, t, ev, rest = m.groups()
        t, tgid, tid = float(t), int(tgid), int(tid)
        kv = dict(re.findall(r"(\w+)=(\S+)", rest))
        if ev == "sched_process_exec" and bench is None:
            bench = tgid
        if ev == "sched_process_fork":
            c = int(kv["child_pid"])
            fork[c], parent[c] = t, tgid
        elif ev == "sched_process_exec" and kv.get("filename") in TRUE:
            execs[tid] = t
        elif ev == "sched_process_exit":
            exits.setdefault(tid, t)
        elif ev == "sched_switch":
            prev, nxt = int(kv["prev_pid"]), int(kv["next_pid"])
            if prev in on:
                spans[prev].append((on.pop(prev), t, "run"))
                off[prev] = (t, kv["prev_state"])
            if nxt in off:
                since, state = off.pop(nxt)
                spans[nxt].append((since, t, "wait" if state.startswith("R") else "sleep"))
            on[nxt] = t

    def clip(pid, a, b):
        r = {"run": 0.0, "wait": 0.0, "sleep": 0.0}
        for s, e, k in spans[pid]:
            if min(e, b) > max(s, a):
                r[k] += min(e, b) - max(s, a)
        return r

    rows = collections.defaultdict(list)
    for pid, te in execs.items():
        if pid not in fork or pid not in exits:
            continue
        a, b = clip(pid, fork[pid], te), clip(pid, te, exits[pid])
        rows["floor" if parent[pid] == bench else "box"].append(
            (te - fork[pid], a["run"], a["wait"], a["sleep"], exits[pid] - te, b["run"], b["wait"], b["sleep"]))
    names = ["fork->exec", "  on-cpu", "  runq", "  sleep", "exec->exit", "  on-cpu", "  runq", "  sleep"]
    for g, v in rows.items():
        print(g, len(v))
        for i, n in enumerate(names):
            col = sorted(x[i] for x in v)
            print("  %-12s p10 %7.0f p50 %7.0f mean %7.0f us" % (
                n, col[len(col) // 10] * 1e6, col[len(col) // 2] * 1e6, statistics.mean(col) * 1e6))


if __name__ == "__main__":
    main(sys.argv[1])
