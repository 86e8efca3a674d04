#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages ferry builds and tests with; quick when they are already there.
set -euo pipefail
pkgs=(meson ninja-build pkg-config gcc clang libclang-rt-14-dev protobuf-c-compiler libprotobuf-c-dev
      libxxhash-dev libcmocka-dev libjansson-dev libcap-dev python3 procps util-linux
      redis-server redis-tools libzstd-dev liblz4-dev libssl-dev
      openssl iproute2 groff-base strace)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
