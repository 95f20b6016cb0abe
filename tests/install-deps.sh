#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Install what pvefailover needs to build, test and run its lab on Debian 12, as root.
# Idempotent: packages already present are not fetched again.
set -eu

PACKAGES="
  build-essential meson ninja-build pkg-config gettext libxml2-utils
  libglib2.0-dev libglib2.0-bin glib-networking libnm-dev libmm-glib-dev libsoup-3.0-dev libjson-glib-dev
  libnftables-dev libmnl-dev libnl-3-dev libnl-route-3-dev libpolkit-gobject-1-dev polkitd
  systemd
  network-manager modemmanager dbus-daemon nftables iproute2 conntrack procps psmisc
  wireguard-go wireguard-tools
  python3 python3-gi python3-dbusmock openssl
"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done

if [ -n "$missing" ]; then
  echo "Installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing
fi
