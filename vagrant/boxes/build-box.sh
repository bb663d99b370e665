#!/bin/sh
# build-box.sh NAME OUTDIR: build the libvirt Vagrant box NAME from Debian
# packages alone (no Vagrant Cloud), as OUTDIR/NAME.box, and keep its disk as
# OUTDIR/NAME.qcow2 (run-matrix.sh boots it once to probe KVM). A box newer
# than this script is kept (FORCE=1 rebuilds). The root file system tarball
# is cached as OUTDIR/cache/NAME.rootfs.tar (the slow part: FORCE=1 redoes
# it too). Run as root: it needs a loop device and chroot.
#   debian11-5.10   bullseye, linux-image-cloud-amd64 (5.10); no -security suite:
#                   bullseye is past its LTS end and its security pool is
#                   withdrawn (404 for indexed files, seen 2026-12-06)
#   debian12-6.1    bookworm, linux-image-cloud-amd64 (6.1)
#   debian12-6.12   bookworm, linux-image-6.12-cloud-amd64 from bookworm-security
#                   (the 6.12 of `make matrix`; bookworm-backports carries an older one)
# The guest gets: a `vagrant` user with Vagrant's well-known insecure key and
# passwordless sudo, sshd, DHCP on eth0 (net.ifnames=0), a serial console,
# gcc/git/curl/unzip for provisioning, and the host's local CA certificates
# (/usr/local/share/ca-certificates) so that it trusts what the host trusts
# where an intercepting proxy sits on the way out.
#   MIRROR   Debian mirror (default http://deb.debian.org/debian)
#   DISK_GB  virtual disk size (default 8)
set -eu
name=${1:?usage: build-box.sh NAME OUTDIR}
outdir=${2:?usage: build-box.sh NAME OUTDIR}
mirror=${MIRROR:-http://deb.debian.org/debian}
security=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
disk_gb=${DISK_GB:-8}
case $name in
debian11-5.10) suite=bullseye kernel=linux-image-cloud-amd64 with_security= ;;
debian12-6.1) suite=bookworm kernel=linux-image-cloud-amd64 with_security=1 ;;
debian12-6.12) suite=bookworm kernel=linux-image-6.12-cloud-amd64 with_security=1 ;;
*) echo "build-box.sh: unknown box $name (debian11-5.10, debian12-6.1, debian12-6.12)" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "build-box.sh: run as root (loop device, chroot)" >&2; exit 2; }
for tool in mmdebstrap sfdisk losetup partx mkfs.ext4 qemu-img blkid; do
	command -v $tool >/dev/null 2>&1 || {
		echo "build-box.sh: $tool is missing (apt-get install mmdebstrap fdisk util-linux e2fsprogs qemu-utils)" >&2
		exit 2
	}
done
script=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
box=$outdir/$name.box
if [ -z "${FORCE:-}" ] && [ -s "$box" ] && [ -s "$outdir/$name.qcow2" ] && [ -n "$(find "$box" -newer "$script")" ]; then
	echo "build-box.sh: $box is up to date"
	exit 0
fi
key=
for k in /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub /opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub; do
	[ -s "$k" ] && key=$k
done
[ -n "$key" ] || { echo "build-box.sh: Vagrant's insecure public key (keys/vagrant.pub) not found: is vagrant installed?" >&2; exit 2; }

work=$(mktemp -d "$outdir/.build-$name.XXXXXX")
mnt=$work/mnt
loop=
cleanup() {
	for m in dev/pts dev proc sys ""; do
		mountpoint -q "$mnt/$m" 2>/dev/null && umount "$mnt/$m"
	done
	if [ -n "$loop" ]; then
		partx -d "$loop" 2>/dev/null || true
		losetup -d "$loop"
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
t0=$(date +%s)

# 1. The root file system, as a tarball (no device needed yet).
cp "$key" "$work/vagrant.pub"
mkdir -p "$work/ca"
for c in /usr/local/share/ca-certificates/*.crt; do
	[ -f "$c" ] && cp "$c" "$work/ca/"
done
cat > "$work/setup.sh" <<'EOF'
#!/bin/sh
# Runs inside the new root (chroot) at the end of mmdebstrap.
set -eu
useradd -m -s /bin/bash vagrant
echo 'vagrant ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/vagrant
chmod 440 /etc/sudoers.d/vagrant
install -d -m 700 -o vagrant -g vagrant /home/vagrant/.ssh
install -m 600 -o vagrant -g vagrant /tmp/box/vagrant.pub /home/vagrant/.ssh/authorized_keys
echo 'root:vagrant' | chpasswd
cp /tmp/box/ca/*.crt /usr/local/share/ca-certificates/ 2>/dev/null || true
update-ca-certificates >/dev/null
printf 'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n' > /etc/network/interfaces
echo vagrant > /etc/hostname
printf '127.0.0.1 localhost\n127.0.1.1 vagrant\n' > /etc/hosts
# GRUB: serial console, classic interface names, no wait.
sed -i -e 's/^GRUB_TIMEOUT=.*/GRUB_TIMEOUT=1/' \
	-e 's/^GRUB_CMDLINE_LINUX=.*/GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200 net.ifnames=0 biosdevname=0"/' /etc/default/grub
printf 'GRUB_TERMINAL="serial console"\nGRUB_SERIAL_COMMAND="serial --speed=115200"\n' >> /etc/default/grub
# sshd: no reverse lookups (no DNS for the guest's peer), so logins are quick.
echo 'UseDNS no' >> /etc/ssh/sshd_config
systemctl enable ssh >/dev/null 2>&1 || true
apt-get clean
rm -rf /var/lib/apt/lists/*
EOF
chmod +x "$work/setup.sh"
sources="deb $mirror $suite main
deb $mirror $suite-updates main"
[ -n "$with_security" ] && sources="$sources
deb $security $suite-security main"
rootfs=$outdir/cache/$name.rootfs.tar
mkdir -p "$outdir/cache"
if [ -n "${FORCE:-}" ] || ! [ -s "$rootfs" ]; then
	echo "== $name: root file system ($suite, $kernel)"
	mmdebstrap --variant=minbase --mode=root --format=tar \
		--include="$kernel,systemd-sysv,udev,dbus,grub-pc,openssh-server,sudo,ifupdown,isc-dhcp-client,iproute2,rsync,ca-certificates,curl,unzip,gcc,libc6-dev,git,tar,procps,kmod,e2fsprogs,passwd,less" \
		--customize-hook="mkdir -p \"\$1/tmp/box\" && cp -a '$work/vagrant.pub' '$work/ca' '$work/setup.sh' \"\$1/tmp/box/\"" \
		--customize-hook='chroot "$1" /tmp/box/setup.sh' \
		--customize-hook='rm -rf "$1/tmp/box"' \
		"$suite" "$work/rootfs.tar" "$sources"
	mv "$work/rootfs.tar" "$rootfs"
else
	echo "== $name: root file system from $rootfs"
fi
t1=$(date +%s)

# 2. A disk: one bootable partition, ext4, GRUB in the MBR gap.
echo "== $name: disk image"
truncate -s "${disk_gb}G" "$work/disk.raw"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$work/disk.raw"
loop=$(losetup -f --show "$work/disk.raw")
# losetup -P relies on udev for the partition's node; partx -a makes it.
# It fails when the kernel already knows the partition (a loop device just
# reused): then the node is there anyway.
partx -a "$loop" 2>/dev/null || partx -u "$loop" 2>/dev/null || true
part=${loop}p1
i=0
while [ ! -b "$part" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -b "$part" ] || { echo "build-box.sh: no partition device $part after partx -a" >&2; exit 1; }
mkfs.ext4 -q -L root "$part"
uuid=$(blkid -s UUID -o value "$part")
mkdir -p "$mnt"
mount "$part" "$mnt"
tar -C "$mnt" -xpf "$rootfs"
echo "UUID=$uuid / ext4 errors=remount-ro 0 1" > "$mnt/etc/fstab"
mount --bind /dev "$mnt/dev"
mount --bind /dev/pts "$mnt/dev/pts"
mount -t proc proc "$mnt/proc"
mount -t sysfs sysfs "$mnt/sys"
chroot "$mnt" grub-install --target=i386-pc "$loop" 2>&1 | grep -v '^Installing for' || true
[ -f "$mnt/boot/grub/i386-pc/core.img" ] || { echo "build-box.sh: grub-install failed" >&2; exit 1; }
chroot "$mnt" update-grub 2>/dev/null
# update-grub names the loop partition (root=/dev/loopNp1): the guest has
# /dev/vda1, so name the file system instead.
sed -i "s|root=$part|root=UUID=$uuid|g" "$mnt/boot/grub/grub.cfg"
if grep -q "$loop" "$mnt/boot/grub/grub.cfg"; then
	echo "build-box.sh: grub.cfg still names $loop" >&2
	exit 1
fi
for m in sys proc dev/pts dev ""; do umount "$mnt/$m"; done
sync
# The partition can be busy for a moment after the unmount; detaching the
# loop device drops it anyway.
i=0
until partx -d "$loop" 2>/dev/null || [ $i -ge 20 ]; do sleep 0.5; i=$((i + 1)); done
losetup -d "$loop"
loop=
qemu-img convert -O qcow2 "$work/disk.raw" "$work/box.img"
rm -f "$work/disk.raw"
t2=$(date +%s)

# 3. The box: metadata, a provider Vagrantfile and the disk, as a plain tar.
echo "== $name: box"
printf '{"provider":"libvirt","format":"qcow2","virtual_size":%s}\n' "$disk_gb" > "$work/metadata.json"
cat > "$work/Vagrantfile" <<'EOF'
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.disk_bus = "virtio"
  end
end
EOF
tar -C "$work" -cf "$work/box.tar" metadata.json Vagrantfile box.img
mv "$work/box.img" "$outdir/$name.qcow2"
mv "$work/box.tar" "$box"
t3=$(date +%s)
echo "build-box.sh: $box ($(du -h "$box" | cut -f1)): rootfs $((t1 - t0))s, disk $((t2 - t1))s, box $((t3 - t2))s"
