#!/usr/bin/env bash
# Builds (once) the minimal Debian root the deployment test boots, as CACHE_DIR/bookworm-systemd.tar,
# from this machine's own apt sources. .ci/run calls it before `cargo test` so that the test
# itself stays within its time budget; deploy-systemd.sh calls it too (a no-op when cached).
#
#   deploy/test/build-root.sh target/deploy-cache
set -euo pipefail
cache=$1
tarball=$cache/bookworm-systemd.tar
[ -s "$tarball" ] && exit 0
mkdir -p "$cache"
sources=/etc/apt/sources.list.d/debian.sources
[ -f "$sources" ] || sources=/etc/apt/sources.list
mmdebstrap --quiet --variant=minbase --format=tar \
    --include=systemd,systemd-sysv,dbus,libnss-systemd \
    bookworm "$tarball.partial" "$sources"
mv "$tarball.partial" "$tarball"
