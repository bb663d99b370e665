#!/bin/sh
# install-go.sh [VERSION]: install the Go toolchain the module asks for
# (go.mod's go line by default) under /usr/local/go, plus the build
# tools. Depends on neither Vagrant nor Lima.
set -eu
src=${GOSANDBOX_SRC:-/gosandbox}
version=${1:-$(awk '$1 == "go" { print $2; exit }' "$src/go.mod")}
[ "$(id -u)" = 0 ] || { echo "install-go.sh: run as root" >&2; exit 2; }

if command -v apt-get >/dev/null 2>&1; then
	DEBIAN_FRONTEND=noninteractive apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q curl ca-certificates tar gcc git
elif command -v dnf >/dev/null 2>&1; then
	dnf install -y -q curl ca-certificates tar gcc git
fi
if [ -x /usr/local/go/bin/go ] && /usr/local/go/bin/go version | grep -q "go$version "; then
	echo "install-go.sh: go$version already installed"
	exit 0
fi
arch=$(uname -m)
case $arch in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
tmp=$(mktemp)
curl -fsSL -o "$tmp" "https://go.dev/dl/go$version.linux-$arch.tar.gz"
rm -rf /usr/local/go
tar -C /usr/local -xzf "$tmp"
rm -f "$tmp"
ln -sf /usr/local/go/bin/go /usr/local/bin/go
go version
