#!/bin/sh
# run.sh [SRC] [RESULTS]: on this machine, build gosandbox from SRC, run the
# conformance suites on the oneshot and container backends and a quick
# bench, and leave <backend>.json/.xml, bench.json and vm/facts.txt in
# RESULTS (the layout of out/matrix/<kernel>-<cgroup>/). Run as root. Spec
# failures are results, not errors: the script fails only when nothing could
# be built. Depends on neither Vagrant nor Lima.
#   LABEL_FILTER  Ginkgo label filter (default: every spec)
#   BACKENDS      default "oneshot container"
#   NO_BENCH=1    skip the bench
set -eu
src=${1:-/gosandbox}
results=${2:-/tmp/gosandbox-results}
backends=${BACKENDS:-oneshot container}
[ "$(id -u)" = 0 ] || { echo "run.sh: run as root (namespaces, cgroups)" >&2; exit 2; }
export PATH=/usr/local/go/bin:$PATH
command -v go >/dev/null || { echo "run.sh: no Go: run install-go.sh first" >&2; exit 2; }

# Build from a private copy: the shared folder may be read-only or squashed.
work=/var/tmp/gosandbox-src
rm -rf "$work"
mkdir -p "$work"
(cd "$src" && tar --exclude=./out --exclude=./.git -cf - .) | tar -C "$work" -xf -
rm -rf "$results"
mkdir -p "$results/vm"
cd "$work"
go build -o bin/gosandbox ./cmd/gosandbox

cgroup=v1
[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] && cgroup=v2
[ "$cgroup" = v1 ] && [ -d /sys/fs/cgroup/unified ] && cgroup=hybrid
{
	echo "kernel $(uname -r)"
	echo "cgroup $cgroup"
	echo "os $(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "cpus $(nproc)"
	echo "label_filter ${LABEL_FILTER:-}"
} > "$results/vm/facts.txt"

for b in $backends; do
	echo "== suites on $b"
	start=$(date +%s)
	set -- --backend="$b" --report-dir="$results"
	[ -n "${LABEL_FILTER:-}" ] && set -- "$@" --ginkgo.label-filter="$LABEL_FILTER"
	status=0
	go test -count=1 -timeout 60m ./suites -args "$@" > "$results/vm/$b.log" 2>&1 || status=$?
	echo "suite_${b}_exit $status" >> "$results/vm/facts.txt"
	echo "suite_${b}_seconds $(( $(date +%s) - start ))" >> "$results/vm/facts.txt"
	tail -n 20 "$results/vm/$b.log"
done
if [ -z "${NO_BENCH:-}" ]; then
	status=0
	./bin/gosandbox bench --quick --quiet --out "$results" || status=$?
	echo "bench_exit $status" >> "$results/vm/facts.txt"
fi
echo "run.sh: results in $results"
