#!/usr/bin/env bash
# Installs the Debian packages the project runs against (real ovsdb-server, ovs-vswitchd, OVN's tools),
# without starting any of their services: a policy-rc.d that answers 101 keeps them down while installing.
set -euo pipefail

PKGS=(openvswitch-switch openvswitch-common ovn-common ovn-central ovn-host iproute2 iputils-ping tcpdump)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all Debian packages present"
    exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

echo "install-deps: installing ${missing[*]}"
policy=/usr/sbin/policy-rc.d
had_policy=0
[ -e "$policy" ] && had_policy=1
if [ $had_policy -eq 0 ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
fi
cleanup() { [ $had_policy -eq 1 ] || $SUDO rm -f "$policy"; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
