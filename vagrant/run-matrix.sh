#!/bin/sh
# run-matrix.sh OUT [MACHINE...]: the Vagrant kernel matrix. For each machine
# of machines.txt (all by default), one at a time: get its box (build a
# gosandbox/* box from Debian packages with boxes/build-box.sh, else take it
# from Vagrant's box store or Vagrant Cloud), bring it up, and for each of its
# cgroup modes switch to it (provision/cgroup.sh, a reload), run
# provision/run.sh and copy the results to OUT/vagrant-<machine>-<mode>/;
# then destroy it. A machine whose box cannot be had is skipped with the
# reason; a machine that fails is noted and the others go on. The outcome of
# every column is in OUT/vagrant.json (read by `gosandbox report`) and
# OUT/vagrant-status.txt; each machine's log, with a time on every line, in
# out/vagrant/logs/.
#
# The suites, the CLI and the probe are built once on this host, static, and
# copied into each guest (run.sh PREBUILT=): building them under software
# emulation takes longer than running them. GUEST_BUILD=1 builds them in the
# guest instead, with the Go that provision/install-go.sh puts there.
#
# With the libvirt provider, libvirtd and virtlogd are started when nothing
# runs them (libvirt.sh) and stopped at the end, by PID, with every domain and
# volume this run left. The libvirt driver is "kvm" only when a KVM guest
# really boots the first local box within KVM_PROBE_SECONDS (default 90);
# /dev/kvm can exist and open where a KVM guest still hangs after GRUB.
#   VAGRANT_DEFAULT_PROVIDER  libvirt (default) or virtualbox
#   VAGRANT_LIBVIRT_DRIVER    kvm or qemu: skips the probe
#   CGROUPS                   only these modes, e.g. "v2"
#   LABEL_FILTER, BACKENDS, NO_BENCH   passed to run.sh
#   KEEP=1                    halt the machines instead of destroying them
#   GUEST_BUILD=1             build in the guest (installs Go there)
#   GOSANDBOX_VAGRANT_DIR     boxes, Vagrant's home and daemon state
#                             (default <repo>/out/vagrant)
set -u
out=${1:?usage: run-matrix.sh OUT [MACHINE...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v vagrant >/dev/null 2>&1; then
	echo "run-matrix.sh: vagrant is not installed (apt-get install vagrant vagrant-libvirt); the local matrix without it is 'make matrix'" >&2
	exit 2
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
state=${GOSANDBOX_VAGRANT_DIR:-$here/../out/vagrant}
mkdir -p "$state/boxes" "$state/logs"
state=$(cd "$state" && pwd)
export VAGRANT_DEFAULT_PROVIDER=${VAGRANT_DEFAULT_PROVIDER:-libvirt}
export VAGRANT_HOME=${VAGRANT_HOME:-$state/home}
export GOSANDBOX_BOX_DIR="$state/boxes"
export VAGRANT_CHECKPOINT_DISABLE=1 VAGRANT_NO_COLOR=1
# The Vagrantfile's Go provisioner runs only where the guest builds.
GOSANDBOX_GUEST_GO=0
[ -n "${GUEST_BUILD:-}" ] && GOSANDBOX_GUEST_GO=1
export GOSANDBOX_GUEST_GO
provider=$VAGRANT_DEFAULT_PROVIDER
cd "$here" || exit 2

status_file=$out/vagrant-status.txt
columns=$state/columns.json.part
: > "$status_file"
: > "$columns"
failed=0

now() { date +%s; }
note() { echo "$*" | tee -a "$status_file"; }
json_string() { printf '"%s"' "$(printf '%s' "$1" | tr '\n\t' '  ' | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
# column NAME KERNEL CGROUP BOOTED COMPLETED BENCH REASON
column() {
	printf '{"name":%s,"kernel":%s,"cgroup":%s,"booted":%s,"completed":%s,"bench":%s,"reason":%s}\n' \
		"$(json_string "$1")" "$(json_string "$2")" "$(json_string "$3")" "$4" "$5" "$6" "$(json_string "$7")" >> "$columns"
}
# stamp: prefix each line of stdin with the time of day.
stamp() { while IFS= read -r line; do printf '%s %s\n' "$(date +%T)" "$line"; done; }
# logged LOG CMD...: run CMD with its output stamped into LOG; CMD's status.
logged() {
	lg=$1
	shift
	{ "$@" </dev/null 2>&1; echo $? > "$state/status"; } | stamp >> "$lg"
	return "$(cat "$state/status")"
}
# write_summary: OUT/vagrant.json, one column a line; the columns of
# machines this run did not take are kept from the last one, so that
# narrowed runs add up.
write_summary() {
	if [ -f "$out/vagrant.json" ]; then
		grep '^{"name":' "$out/vagrant.json" | sed 's/,$//' | while IFS= read -r line; do
			keep=1
			for m in $(echo "$machines" | awk '{ print $1 }'); do
				case $line in "{\"name\":\"vagrant-$m-"*) keep= ;; esac
			done
			[ -n "$keep" ] && echo "$line"
		done > "$columns.old"
		cat "$columns" >> "$columns.old"
		mv "$columns.old" "$columns"
	fi
	{
		printf '{"runner":"vagrant","provider":%s,"driver":%s,"label_filter":%s,"columns":[\n' \
			"$(json_string "$provider")" "$(json_string "${VAGRANT_LIBVIRT_DRIVER:-}")" "$(json_string "${LABEL_FILTER:-}")"
		sed '$!s/$/,/' "$columns"
		printf ']}\n'
	} > "$out/vagrant.json"
	rm -f "$columns"
}

# machine lines: name box cgroups
machines=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' machines.txt)
if [ $# -gt 0 ]; then
	picked=
	for m in "$@"; do
		line=$(echo "$machines" | awk -v m="$m" '$1 == m')
		[ -n "$line" ] || { echo "run-matrix.sh: no machine $m in machines.txt" >&2; exit 2; }
		picked="$picked$line
"
	done
	machines=$picked
fi

if [ "$provider" = libvirt ]; then
	if ! vagrant plugin list 2>/dev/null | grep -q vagrant-libvirt; then
		echo "run-matrix.sh: the vagrant-libvirt plugin is missing (apt-get install vagrant-libvirt libvirt-daemon-system)" >&2
		exit 2
	fi
	# qemu runs as a child of libvirtd: a niced daemon gives niced guests.
	nice -n 10 sh ./libvirt.sh start "$state/run" || exit 1
	# Only this run's machines are cleaned away: a run for other machines
	# may share the daemon.
	MACHINES=$(echo "$machines" | awk '{ print $1 }' | tr '\n' ' ')
	export MACHINES
	trap 'sh ./libvirt.sh stop "$state/run"' EXIT
	trap 'exit 1' INT TERM HUP
fi

# kvm_probe IMAGE: boot IMAGE (a copy-on-write overlay of it) under KVM and
# wait for the login prompt on the serial console.
kvm_probe() {
	if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then echo "no usable /dev/kvm"; return 1; fi
	command -v qemu-system-x86_64 >/dev/null 2>&1 || { echo "no qemu-system-x86_64"; return 1; }
	log=$state/logs/kvm-probe.serial
	: > "$log"
	timeout "${KVM_PROBE_SECONDS:-90}" qemu-system-x86_64 -accel kvm -cpu host -m 512 -snapshot \
		-drive file="$1",if=virtio -display none -serial file:"$log" -monitor none -net none &
	qpid=$!
	ok=1
	while kill -0 $qpid 2>/dev/null; do
		if grep -q 'login:' "$log" 2>/dev/null; then ok=0; break; fi
		sleep 1
	done
	kill $qpid 2>/dev/null
	wait $qpid 2>/dev/null
	[ $ok = 0 ] && return 0
	echo "a KVM guest did not reach its login prompt within ${KVM_PROBE_SECONDS:-90}s (serial log: $log)"
	return 1
}

# Boxes first: building one and probing KVM need no VM.
for name in $(echo "$machines" | awk '$2 ~ /^gosandbox\// { print $1 }'); do
	b=$(now)
	if nice -n 10 sh ./boxes/build-box.sh "$name" "$state/boxes" > "$state/logs/box-$name.log" 2>&1; then
		note "$name: box ready ($(( $(now) - b ))s; log $state/logs/box-$name.log)"
	else
		note "$name: box build failed ($(( $(now) - b ))s): $(tail -n 1 "$state/logs/box-$name.log")"
	fi
done
if [ "$provider" = libvirt ] && [ -z "${VAGRANT_LIBVIRT_DRIVER:-}" ]; then
	img=
	for f in "$state"/boxes/*.qcow2; do [ -f "$f" ] && img=$f && break; done
	export VAGRANT_LIBVIRT_DRIVER=qemu
	if [ -z "$img" ]; then
		note "libvirt driver qemu: no local box to probe KVM with"
	elif why=$(kvm_probe "$img"); then
		VAGRANT_LIBVIRT_DRIVER=kvm
		note "libvirt driver kvm: a KVM guest booted $(basename "$img")"
	else
		note "libvirt driver qemu (software emulation): $why"
	fi
fi

# The guest's programs, unless the guest builds them.
bin=$state/bin
if [ -z "${GUEST_BUILD:-}" ]; then
	b=$(now)
	rm -rf "$bin"
	mkdir -p "$bin"
	if ! (cd .. && export CGO_ENABLED=0 &&
		nice -n 10 go test -c -o "$bin/suites.test" ./suites &&
		nice -n 10 go build -trimpath -o "$bin/gosandbox" ./cmd/gosandbox &&
		nice -n 10 go build -trimpath -o "$bin/probe" ./harness/probes/probe) > "$state/logs/build.log" 2>&1; then
		echo "run-matrix.sh: building the guest's programs failed:" >&2
		cat "$state/logs/build.log" >&2
		exit 1
	fi
	note "guest programs built on this host, static, in $(( $(now) - b ))s"
fi
# The host's calibration, against which each guest sets its time scale
# (run.sh HOST_CALIBRATION).
if [ -x "$bin/gosandbox" ]; then calibrator=$bin/gosandbox; else calibrator="go run ../cmd/gosandbox"; fi
if ! $calibrator matrix --calibrate > "$state/host-calibration.json" 2>> "$state/logs/build.log"; then
	echo "run-matrix.sh: the host's calibration failed: see $state/logs/build.log" >&2
	exit 1
fi
note "host calibration: $(cat "$state/host-calibration.json")"

# ssh_to M CMD: run CMD in machine M over the ssh configuration Vagrant gave.
ssh_to() {
	m=$1
	shift
	ssh -F "$state/ssh-$m.conf" -o LogLevel=ERROR "$m" "$@"
}

echo "$machines" > "$state/machines.list"
while read -r m box modes <&3; do
	[ -n "$m" ] || continue
	echo "== $m ($box: $modes)"
	start=$(now)
	log=$state/logs/$m.log
	: > "$log"
	# The box.
	reason=
	case $box in
	gosandbox/*)
		[ -s "$state/boxes/${box#gosandbox/}.box" ] || reason="the box $box could not be built: see $state/logs/box-${box#gosandbox/}.log"
		;;
	*)
		if ! vagrant box list 2>/dev/null | grep -q "^$box .*$provider"; then
			if ! logged "$log" timeout 600 vagrant box add --provider "$provider" "$box"; then
				reason="the box $box is neither in Vagrant's box store nor downloadable: $(sed -n 's/^[0-9:]* *//; /[^[:space:]]/p' "$log" | tail -n 1)"
			fi
		fi
		;;
	esac
	if [ -n "$reason" ]; then
		note "$m: skipped: $reason"
		for mode in $(echo "$modes" | tr ',' ' '); do
			column "vagrant-$m-$mode" "vagrant-$m" "$mode" false false false "skipped: $reason"
		done
		continue
	fi
	# Up, with Go.
	b=$(now)
	if ! logged "$log" vagrant up "$m" --provider="$provider" --provision ||
		! vagrant ssh-config "$m" > "$state/ssh-$m.conf" 2>> "$log"; then
		note "$m: vagrant up failed after $(( $(now) - b ))s: $(tail -n 3 "$log" | tr '\n' ' ')"
		for mode in $(echo "$modes" | tr ',' ' '); do
			column "vagrant-$m-$mode" "vagrant-$m" "$mode" false false false "vagrant up failed (log $log)"
		done
		logged "$log" vagrant destroy -f "$m"
		failed=1
		continue
	fi
	up=$(( $(now) - b ))
	note "$m: up and provisioned in ${up}s ($(ssh_to "$m" uname -r </dev/null))"
	prebuilt=
	if [ -z "${GUEST_BUILD:-}" ]; then
		prebuilt=/var/tmp/gosandbox-bin
		tar -C "$bin" -cf - . | ssh_to "$m" "sudo rm -rf $prebuilt && sudo mkdir -p $prebuilt && sudo tar -C $prebuilt -xf -"
	fi
	for mode in $(echo "$modes" | tr ',' ' '); do
		case " ${CGROUPS:-$mode} " in *" $mode "*) ;; *) continue ;; esac
		col=vagrant-$m-$mode
		dir=$out/$col
		rm -rf "$dir"
		b=$(now)
		switched=$(ssh_to "$m" sudo sh /gosandbox/vagrant/provision/cgroup.sh "$mode" </dev/null 2>&1)
		echo "$switched" >> "$log"
		reload=0
		if echo "$switched" | grep -q 'reboot to apply'; then
			if ! logged "$log" vagrant reload "$m" ||
				! vagrant ssh-config "$m" > "$state/ssh-$m.conf" 2>> "$log"; then
				note "$m: reload into cgroup $mode failed"
				column "$col" "vagrant-$m" "$mode" false false false "reload into cgroup $mode failed (log $log)"
				failed=1
				continue
			fi
			reload=$(( $(now) - b ))
		fi
		fs=$(ssh_to "$m" stat -fc %T /sys/fs/cgroup </dev/null)
		have=v1
		[ "$fs" = cgroup2fs ] && have=v2
		if [ "$have" != "$mode" ]; then
			note "$m: cgroup $mode wanted, the guest booted $have"
			column "$col" "vagrant-$m" "$mode" true false false "cgroup $mode wanted, the guest booted $have"
			failed=1
			continue
		fi
		if [ "$mode" = v1 ] && ! ssh_to "$m" test -d /sys/fs/cgroup/memory </dev/null; then
			note "$m: cgroup v1 skipped: kernel $(ssh_to "$m" uname -r </dev/null) has no v1 memory controller"
			column "$col" "vagrant-$m" "$mode" true false false "skipped: the kernel has no v1 memory controller"
			continue
		fi
		b=$(now)
		# Given again after each reload: the guest's /tmp does not outlive a boot.
		ssh_to "$m" "cat > /var/tmp/gosandbox-host-calibration.json" < "$state/host-calibration.json"
		logged "$log" ssh_to "$m" "sudo env LABEL_FILTER='${LABEL_FILTER:-}' BACKENDS='${BACKENDS:-oneshot container}' NO_BENCH='${NO_BENCH:-}' PREBUILT='$prebuilt' HOST_CALIBRATION=/var/tmp/gosandbox-host-calibration.json sh /gosandbox/vagrant/provision/run.sh /gosandbox /tmp/gosandbox-results"
		ran=$?
		run=$(( $(now) - b ))
		mkdir -p "$dir"
		if ssh_to "$m" "sudo tar -C /tmp/gosandbox-results -cf - ." </dev/null | tar -C "$dir" -xf -; then
			printf 'box %s\nprovider %s\ndriver %s\nup_seconds %s\nreload_seconds %s\nrun_seconds %s\n' \
				"$box" "$provider" "${VAGRANT_LIBVIRT_DRIVER:-}" "$up" "$reload" "$run" > "$dir/vm/vagrant.txt"
			bench=false
			[ -s "$dir/bench.json" ] && bench=true
			if [ $ran = 0 ]; then
				column "$col" "vagrant-$m" "$mode" true true $bench ""
				note "$m: cgroup $mode: results in $dir (reload ${reload}s, run ${run}s)"
			else
				column "$col" "vagrant-$m" "$mode" true false $bench "run.sh exited $ran (log $log)"
				note "$m: cgroup $mode: run.sh exited $ran after ${run}s; partial results in $dir"
				failed=1
			fi
		else
			column "$col" "vagrant-$m" "$mode" true false false "copying the results back failed (log $log)"
			note "$m: cgroup $mode: copying the results back failed"
			failed=1
		fi
	done
	if [ -n "${KEEP:-}" ]; then
		logged "$log" vagrant halt "$m"
	else
		logged "$log" vagrant destroy -f "$m"
	fi
	rm -f "$state/ssh-$m.conf"
	note "$m: done in $(( $(now) - start ))s"
done 3< "$state/machines.list"
rm -f "$state/machines.list" "$state/status"
write_summary
echo "run-matrix.sh: summary in $out/vagrant.json"
exit $failed
