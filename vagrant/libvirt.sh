#!/bin/sh
# libvirt.sh start|stop|clean STATEDIR: run libvirtd and virtlogd where no
# service manager does (containers, CI), and leave nothing behind.
#   start  if qemu:///system already answers, do nothing (someone else runs
#          it); else start virtlogd and libvirtd as daemons with their PID
#          files in STATEDIR, and wait until libvirtd answers
#   clean  remove what vagrant-libvirt left of this project: domains named
#          gosandbox_*, their volumes and the uploaded box volumes; with
#          MACHINES set (names, space-separated), only those machines'
#          domains and volumes, so that runs for other machines can share
#          the daemon meanwhile
#   stop   clean, then stop the daemons this script started, by the PIDs in
#          STATEDIR (never by name); a daemon it did not start is left alone.
#          Storage pools and networks defined while ours ran (vagrant-libvirt
#          defines a "default" pool and its management network) go too, and
#          so do the LIBVIRT_* firewall chains libvirtd made if there were
#          none before it started
# Depends on neither Vagrant nor the project's Go code.
set -eu
cmd=${1:?usage: libvirt.sh start|stop|clean STATEDIR}
state=${2:?usage: libvirt.sh start|stop|clean STATEDIR}
uri=qemu:///system

answers() { virsh -c $uri uri >/dev/null 2>&1; }

# ours NAME: whether a domain or volume name belongs to this run: any of
# the project's, or only those of MACHINES (gosandbox_<machine>... and the
# box volume gosandbox-VAGRANTSLASH-<machine>_...).
ours() {
	[ -n "${MACHINES:-}" ] || return 0
	for m in $MACHINES; do
		case $1 in "gosandbox_$m" | "gosandbox_$m".* | "gosandbox-VAGRANTSLASH-${m}_"*) return 0 ;; esac
	done
	return 1
}

clean() {
	answers || return 0
	for d in $(virsh -c $uri list --all --name | grep '^gosandbox_' || true); do
		ours "$d" || continue
		virsh -c $uri destroy "$d" >/dev/null 2>&1 || true
		virsh -c $uri undefine "$d" --remove-all-storage >/dev/null 2>&1 ||
			virsh -c $uri undefine "$d" >/dev/null 2>&1 || true
		echo "libvirt.sh: removed domain $d"
	done
	for p in $(virsh -c $uri pool-list --name 2>/dev/null || true); do
		for v in $(virsh -c $uri vol-list "$p" 2>/dev/null | awk 'NR > 2 && $1 ~ /^gosandbox/ { print $1 }'); do
			ours "$v" || continue
			virsh -c $uri vol-delete "$v" --pool "$p" >/dev/null && echo "libvirt.sh: removed volume $p/$v"
		done
	done
	# Networks (vagrant-libvirt's management network, its dnsmasq and NAT
	# rules) and pools defined since our daemon started go with it; a
	# daemon we did not start keeps its own.
	[ -s "$state/libvirtd.pid" ] || return 0
	for n in $(virsh -c $uri net-list --all --name); do
		grep -qx "$n" "$state/networks.before" 2>/dev/null && continue
		virsh -c $uri net-destroy "$n" >/dev/null 2>&1 || true
		virsh -c $uri net-undefine "$n" >/dev/null 2>&1 || true
		echo "libvirt.sh: removed network $n"
	done
	for p in $(virsh -c $uri pool-list --all --name); do
		grep -qx "$p" "$state/pools.before" 2>/dev/null && continue
		virsh -c $uri pool-destroy "$p" >/dev/null 2>&1 || true
		virsh -c $uri pool-undefine "$p" >/dev/null 2>&1 || true
		echo "libvirt.sh: removed storage pool $p"
	done
}

# The chains libvirtd adds, per table, with the built-in chains that jump
# to them.
chains="filter:INPUT:LIBVIRT_INP filter:OUTPUT:LIBVIRT_OUT filter:FORWARD:LIBVIRT_FWX filter:FORWARD:LIBVIRT_FWI filter:FORWARD:LIBVIRT_FWO nat:POSTROUTING:LIBVIRT_PRT mangle:POSTROUTING:LIBVIRT_PRT"

# firewall_clean: remove the LIBVIRT_* chains, which libvirtd leaves when
# it stops, if STATEDIR says there were none before it started.
firewall_clean() {
	for ipt in iptables ip6tables; do
		[ -f "$state/$ipt.fresh" ] || continue
		command -v $ipt >/dev/null 2>&1 || continue
		removed=
		for c in $chains; do
			table=${c%%:*}
			rest=${c#*:}
			parent=${rest%%:*}
			chain=${rest#*:}
			$ipt -w -t "$table" -S "$chain" >/dev/null 2>&1 || continue
			while $ipt -w -t "$table" -D "$parent" -j "$chain" 2>/dev/null; do :; done
			$ipt -w -t "$table" -F "$chain" 2>/dev/null || true
			$ipt -w -t "$table" -X "$chain" 2>/dev/null || true
			removed=1
		done
		rm -f "$state/$ipt.fresh"
		[ -n "$removed" ] && echo "libvirt.sh: removed libvirt's $ipt chains"
	done
}

# stop_pid NAME: SIGTERM the daemon whose PID is in STATEDIR/NAME.pid if it
# still is NAME, and wait for it to go.
stop_pid() {
	f=$state/$1.pid
	[ -s "$f" ] || return 0
	pid=$(cat "$f")
	if [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$1" ]; then
		kill "$pid"
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
		if kill -0 "$pid" 2>/dev/null; then
			echo "libvirt.sh: $1 ($pid) ignored SIGTERM; killing it" >&2
			kill -9 "$pid"
		fi
		echo "libvirt.sh: stopped $1 ($pid)"
	fi
	rm -f "$f"
}

case $cmd in
start)
	if answers; then
		echo "libvirt.sh: libvirtd already answers on $uri: using it"
		exit 0
	fi
	for d in libvirtd virtlogd virsh; do
		command -v $d >/dev/null 2>&1 || {
			echo "libvirt.sh: $d is missing (apt-get install libvirt-daemon-system)" >&2
			exit 2
		}
	done
	# libvirt's network for the machines runs dnsmasq, which the daemons
	# only recommend.
	command -v dnsmasq >/dev/null 2>&1 || {
		echo "libvirt.sh: dnsmasq is missing (apt-get install dnsmasq-base)" >&2
		exit 2
	}
	mkdir -p "$state"
	for ipt in iptables ip6tables; do
		rm -f "$state/$ipt.fresh"
		if command -v $ipt >/dev/null 2>&1 && ! $ipt -w -S LIBVIRT_INP >/dev/null 2>&1; then
			: > "$state/$ipt.fresh"
		fi
	done
	virtlogd -d -p "$state/virtlogd.pid"
	libvirtd -d -p "$state/libvirtd.pid"
	i=0
	until answers; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			echo "libvirt.sh: libvirtd did not answer on $uri within 10s" >&2
			stop_pid libvirtd
			stop_pid virtlogd
			exit 1
		fi
		sleep 0.1
	done
	virsh -c $uri net-list --all --name > "$state/networks.before"
	virsh -c $uri pool-list --all --name > "$state/pools.before"
	echo "libvirt.sh: started virtlogd ($(cat "$state/virtlogd.pid")) and libvirtd ($(cat "$state/libvirtd.pid"))"
	;;
clean) clean ;;
stop)
	clean
	started=
	[ -s "$state/libvirtd.pid" ] && started=1
	stop_pid libvirtd
	stop_pid virtlogd
	[ -n "$started" ] && firewall_clean
	rm -f "$state/networks.before" "$state/pools.before"
	;;
*) echo "libvirt.sh: unknown command $cmd (start, stop, clean)" >&2; exit 2 ;;
esac
