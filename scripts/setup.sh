#!/usr/bin/env bash
# Installs every Debian package that ringserve's build, tests and benchmarks need (and prometheus,
# whose promtool checks deploy/prometheus/), node + npm, and tests/node's npm packages (npm ci,
# from its lockfile).
# Idempotent and quiet; fails loudly. Run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libhiredis-dev libspdlog-dev libfmt-dev
  redis-server
  libcli11-dev nlohmann-json3-dev libxxhash-dev libssl-dev libboost-dev openssl curl
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-zmq python3-msgpack python3-jinja2
  clang libclang-rt-14-dev
  prometheus
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

SUDO=""
need_root() {
  if [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      echo "setup.sh: need root to install: $*" >&2; exit 1
    fi
  fi
}

apt_updated=0
apt_install() {
  need_root "$@"
  echo "setup.sh: installing $*" >&2
  export DEBIAN_FRONTEND=noninteractive
  if [ "$apt_updated" -eq 0 ]; then
    if ! $SUDO apt-get update -qq >/tmp/ringserve-apt-update.log 2>&1; then
      echo "setup.sh: apt-get update failed:" >&2; cat /tmp/ringserve-apt-update.log >&2; exit 1
    fi
    apt_updated=1
  fi
  if ! $SUDO apt-get install -y -qq --no-install-recommends "$@" \
       >/tmp/ringserve-apt-install.log 2>&1; then
    echo "setup.sh: apt-get install failed:" >&2; tail -50 /tmp/ringserve-apt-install.log >&2; exit 1
  fi
}

if [ "${#missing[@]}" -gt 0 ]; then
  apt_install "${missing[@]}"
fi

# promtool (from Debian's prometheus) checks deploy/prometheus/ (see deploy/README.md). Only the
# tools are wanted: nothing here starts a Prometheus server (on a host with systemd the package
# may enable its own prometheus.service on :9090; `systemctl disable --now prometheus` stops it).
if ! command -v promtool >/dev/null 2>&1; then
  echo "setup.sh: promtool not found after installing prometheus" >&2; exit 1
fi

# Node.js for tests/node (the official openai SDK against the HTTP gateway): an installed
# node + npm is used as it is; else Debian's.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi

# tests/node's packages, pinned by its package-lock.json (npm ci leaves
# node_modules/.package-lock.json behind: older than the lockfile means out of date).
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
node_dir="$repo_root/tests/node"
if [ -f "$node_dir/package-lock.json" ] &&
   { [ ! -f "$node_dir/node_modules/.package-lock.json" ] ||
     [ "$node_dir/package-lock.json" -nt "$node_dir/node_modules/.package-lock.json" ]; }; then
  if ! npm ci --prefix "$node_dir" --no-audit --no-fund --loglevel=error \
       >/tmp/ringserve-npm-ci.log 2>&1; then
    echo "setup.sh: npm ci --prefix tests/node failed:" >&2; tail -50 /tmp/ringserve-npm-ci.log >&2; exit 1
  fi
fi
