#!/bin/sh
# run-matrix.sh OUT [MACHINE...]: bring up each machine of the Vagrantfile
# (all by default), run provision/run.sh in it, copy the results back to
# OUT/<machine>/, and halt it (destroy with DESTROY=1). A machine that fails
# is noted in OUT/vagrant-status.txt and the others go on.
#   VAGRANT_DEFAULT_PROVIDER  libvirt or virtualbox (Vagrant's own variable)
#   LABEL_FILTER, BACKENDS, NO_BENCH  passed to run.sh
set -u
out=${1:?usage: run-matrix.sh OUT [MACHINE...]}
shift
if ! command -v vagrant >/dev/null 2>&1; then
	echo "run-matrix.sh: vagrant is not installed; the local matrix without it is 'make matrix'" >&2
	exit 2
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")"
if [ $# -eq 0 ]; then
	set -- $(vagrant status --machine-readable | awk -F, '$3 == "state" { print $2 }')
fi
status_file="$out/vagrant-status.txt"
: > "$status_file"
failed=0
for m in "$@"; do
	echo "== $m"
	start=$(date +%s)
	if ! vagrant up "$m" --provision; then
		echo "$m: vagrant up failed" >> "$status_file"; failed=1; continue
	fi
	env="LABEL_FILTER='${LABEL_FILTER:-}' BACKENDS='${BACKENDS:-oneshot container}' NO_BENCH='${NO_BENCH:-}'"
	if ! vagrant ssh "$m" -c "sudo env $env sh /gosandbox/vagrant/provision/run.sh /gosandbox /tmp/gosandbox-results"; then
		echo "$m: run.sh failed" >> "$status_file"; failed=1
	fi
	rm -rf "${out:?}/$m"
	mkdir -p "$out/$m"
	if vagrant ssh "$m" -c "sudo tar -C /tmp/gosandbox-results -cf - ." > "$out/$m.tar" && tar -C "$out/$m" -xf "$out/$m.tar"; then
		echo "$m: results in $out/$m ($(( $(date +%s) - start ))s)" >> "$status_file"
	else
		echo "$m: copying the results back failed" >> "$status_file"; failed=1
	fi
	rm -f "$out/$m.tar"
	if [ -n "${DESTROY:-}" ]; then vagrant destroy -f "$m"; else vagrant halt "$m"; fi
done
cat "$status_file"
exit $failed
