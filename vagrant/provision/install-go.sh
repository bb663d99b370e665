#!/bin/sh
# install-go.sh [VERSION]: install the Go toolchain the module asks for
# (go.mod's go line by default) under /usr/local/go, plus the build
# tools. The toolchain comes from go.dev, or, where go.dev is unreachable,
# from the Go module proxy's toolchain module (GOPROXY, default
# proxy.golang.org): the same files, zipped. Depends on neither Vagrant nor
# Lima.
set -eu
src=${GOSANDBOX_SRC:-/gosandbox}
version=${1:-$(awk '$1 == "go" { print $2; exit }' "$src/go.mod")}
[ "$(id -u)" = 0 ] || { echo "install-go.sh: run as root" >&2; exit 2; }

missing=
for tool in curl tar gcc git unzip; do
	command -v $tool >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -z "$missing" ]; then
	: # the box has them (boxes/build-box.sh puts them in): no package index needed
elif command -v apt-get >/dev/null 2>&1; then
	DEBIAN_FRONTEND=noninteractive apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q curl ca-certificates tar gcc libc6-dev git unzip
elif command -v dnf >/dev/null 2>&1; then
	dnf install -y -q curl ca-certificates tar gcc git unzip
fi
if [ -x /usr/local/go/bin/go ] && /usr/local/go/bin/go version | grep -q "go$version "; then
	echo "install-go.sh: go$version already installed"
	exit 0
fi
arch=$(uname -m)
case $arch in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if curl -fsSL --connect-timeout 15 -o "$tmp/go.tar.gz" "https://go.dev/dl/go$version.linux-$arch.tar.gz"; then
	rm -rf /usr/local/go
	tar -C /usr/local -xzf "$tmp/go.tar.gz"
else
	proxy=${GOPROXY:-https://proxy.golang.org}
	proxy=${proxy%%,*}
	mod=golang.org/toolchain@v0.0.1-go$version.linux-$arch
	echo "install-go.sh: go.dev unreachable; taking $mod from $proxy"
	curl -fsSL --connect-timeout 15 -o "$tmp/go.zip" "$proxy/golang.org/toolchain/@v/v0.0.1-go$version.linux-$arch.zip" || {
		echo "install-go.sh: neither go.dev nor $proxy gave go$version" >&2
		exit 1
	}
	unzip -q -d "$tmp" "$tmp/go.zip"
	rm -rf /usr/local/go
	mv "$tmp/$mod" /usr/local/go
	# Module zips carry no file modes: make the commands executable again.
	find /usr/local/go/bin /usr/local/go/pkg/tool -type f -exec chmod 755 {} +
fi
ln -sf /usr/local/go/bin/go /usr/local/bin/go
go version
