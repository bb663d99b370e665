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
#   PREBUILT=DIR  take suites.test, gosandbox and probe from DIR (static,
#                 built elsewhere: `go test -c ./suites`, `go build
#                 ./cmd/gosandbox ./harness/probes/probe` with CGO_ENABLED=0)
#                 instead of building here; no Go needed then
#   HOST_CALIBRATION=FILE  the host's `gosandbox matrix --calibrate`: the
#                 suites' room for programs to run is then scaled by this
#                 machine's slowness against the host (GOSANDBOX_TIME_SCALE,
#                 as in the qemu matrix); a GOSANDBOX_TIME_SCALE given wins
set -eu
src=${1:-/gosandbox}
results=${2:-/tmp/gosandbox-results}
backends=${BACKENDS:-oneshot container}
prebuilt=${PREBUILT:-}
[ "$(id -u)" = 0 ] || { echo "run.sh: run as root (namespaces, cgroups)" >&2; exit 2; }
export PATH="/usr/local/go/bin:$PATH"
if [ -n "$prebuilt" ]; then
	for f in suites.test gosandbox probe; do
		[ -x "$prebuilt/$f" ] || { echo "run.sh: PREBUILT=$prebuilt has no executable $f" >&2; exit 2; }
	done
	# The suites build neither the probe nor the CLI when these name them.
	export GOSANDBOX_PROBE="$prebuilt/probe" GOSANDBOX_CLI="$prebuilt/gosandbox"
else
	command -v go >/dev/null || { echo "run.sh: no Go: run install-go.sh first, or give PREBUILT" >&2; exit 2; }
fi

# Build from a private copy: the shared folder may be read-only or squashed.
work=/var/tmp/gosandbox-src
rm -rf "$work"
mkdir -p "$work"
(cd "$src" && tar --exclude=./out --exclude=./.git -cf - .) | tar -C "$work" -xf -
rm -rf "$results"
mkdir -p "$results/vm"
cd "$work"
if [ -n "$prebuilt" ]; then
	mkdir -p bin
	cp "$prebuilt/gosandbox" bin/gosandbox
else
	go build -o bin/gosandbox ./cmd/gosandbox
fi

cgroup=v1
[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] && cgroup=v2
[ "$cgroup" = v1 ] && [ -d /sys/fs/cgroup/unified ] && cgroup=hybrid
# Under software emulation programs start 10-30 times slower than on the
# host: the specs' room for a program to run (never a limit whose
# enforcement a spec checks) grows by the time scale.
if [ -z "${GOSANDBOX_TIME_SCALE:-}" ] && [ -n "${HOST_CALIBRATION:-}" ]; then
	GOSANDBOX_TIME_SCALE=$(./bin/gosandbox matrix --calibrate --against "$HOST_CALIBRATION") ||
		{ echo "run.sh: calibration against $HOST_CALIBRATION failed" >&2; exit 2; }
fi
export GOSANDBOX_TIME_SCALE="${GOSANDBOX_TIME_SCALE:-1}"
{
	echo "kernel $(uname -r)"
	echo "time_scale $GOSANDBOX_TIME_SCALE"
	echo "cgroup $cgroup"
	echo "os $(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "cpus $(nproc)"
	echo "label_filter ${LABEL_FILTER:-}"
	# The limits the runners inherit (sudo, PAM and systemd set some).
	awk '/^Max core file size/ { print "rlimit_core " $5 ":" $6 } /^Max open files/ { print "rlimit_nofile " $4 ":" $5 }' /proc/self/limits
	echo "built ${prebuilt:+prebuilt }$(if [ -n "$prebuilt" ]; then echo "(static, elsewhere)"; else go version; fi)"
} > "$results/vm/facts.txt"

for b in $backends; do
	echo "== suites on $b"
	start=$(date +%s)
	set -- --backend="$b" --report-dir="$results"
	[ -n "${LABEL_FILTER:-}" ] && set -- "$@" --ginkgo.label-filter="$LABEL_FILTER"
	status=0
	if [ -n "$prebuilt" ]; then
		# A test binary runs in its package's directory, as go test runs it.
		(cd suites && "$prebuilt/suites.test" -test.timeout=60m "$@") > "$results/vm/$b.log" 2>&1 || status=$?
	else
		go test -count=1 -timeout 60m ./suites -args "$@" > "$results/vm/$b.log" 2>&1 || status=$?
	fi
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
