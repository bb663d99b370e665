#!/bin/sh
# cgroup.sh v1|v2: make the next boot use that cgroup mode, through the
# kernel command line (systemd.unified_cgroup_hierarchy). Reboot afterwards.
# v1 here is systemd's legacy or hybrid layout: v1 controllers under
# /sys/fs/cgroup/<controller>. Depends on neither Vagrant nor Lima.
set -eu
mode=${1:?usage: cgroup.sh v1|v2}
case $mode in
v1) want=0 ;;
v2) want=1 ;;
*) echo "cgroup.sh: unknown mode $mode (v1, v2)" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "cgroup.sh: run as root" >&2; exit 2; }

current=v1
[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] && current=v2
echo "cgroup.sh: now $current, want $mode"
[ "$current" = "$mode" ] && exit 0

args="systemd.unified_cgroup_hierarchy=$want"
# systemd 256 and later refuse v1 unless forced.
[ "$mode" = v1 ] && args="$args SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1"
if command -v grubby >/dev/null 2>&1; then
	grubby --update-kernel=ALL --remove-args="systemd.unified_cgroup_hierarchy SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE"
	grubby --update-kernel=ALL --args="$args"
elif [ -f /etc/default/grub ]; then
	sed -i -E 's/ ?(systemd\.unified_cgroup_hierarchy|SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE)=[^ "]*//g' /etc/default/grub
	sed -i -E "s/^GRUB_CMDLINE_LINUX=\"/GRUB_CMDLINE_LINUX=\"$args /" /etc/default/grub
	if command -v update-grub >/dev/null 2>&1; then update-grub; else grub2-mkconfig -o /boot/grub2/grub.cfg; fi
else
	echo "cgroup.sh: no grubby and no /etc/default/grub: set $args on the kernel command line by hand" >&2
	exit 1
fi
echo "cgroup.sh: $args set; reboot to apply"
