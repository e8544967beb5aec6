#!/usr/bin/env bash
# Installs every Debian package that ringserve's build, tests and benchmarks need.
# Idempotent and quiet; fails loudly. Run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libhiredis-dev libspdlog-dev libfmt-dev
  redis-server
  libcli11-dev nlohmann-json3-dev libxxhash-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-zmq python3-msgpack
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup.sh: need root to install: ${missing[*]}" >&2; exit 1
  fi
fi

echo "setup.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get update -qq >/tmp/ringserve-apt-update.log 2>&1; then
  echo "setup.sh: apt-get update failed:" >&2; cat /tmp/ringserve-apt-update.log >&2; exit 1
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" \
     >/tmp/ringserve-apt-install.log 2>&1; then
  echo "setup.sh: apt-get install failed:" >&2; tail -50 /tmp/ringserve-apt-install.log >&2; exit 1
fi
