#!/usr/bin/env bash
# Installs what is missing (Debian 12 packages only) and builds troupe into
# build/. Sourced by demo.sh and test.sh; safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(
  build-essential pkg-config meson ninja-build python3
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libcaf-dev
  libgtest-dev libsqlite3-dev libyaml-cpp-dev libcli11-dev libspdlog-dev nlohmann-json3-dev
  libgoogle-perftools-dev
  libsystemd-dev systemd  # sd_notify for nodes under systemd; systemd-analyze checks the units deploy writes
  clang libclang-rt-14-dev  # the fuzz build: clang, libFuzzer and the sanitizers' runtimes
  iproute2 iptables procps
  python3-zmq python3-msgpack  # examples/python/troupe_put.py, run by integration-protocol
  bash-completion help2man  # where the completion script installs, and the man page made from --help
  libcpp-httplib-dev libssl-dev  # troupe gateway: HTTP, and SHA-256 and HMAC for SigV4
  awscli python3-boto3  # the AWS CLI and boto3 against troupe gateway, run by integration-gateway
  libsimdjson-dev  # JSON events to MessagePack (rules/json_simd.cpp)
  prometheus  # promtool check metrics, and a real server scraping the cluster (integration-observe)
  chromium  # the live page loaded headless (integration-dashboard)
  gnuplot-nox  # the bench's PNG plots
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The JavaScript SDK's tests (tests/clients/js) need node and npm: Debian's
# (Node 18 on Debian 12) unless the machine has its own already (a
# NodeSource nodejs carries its npm, and Debian's npm would conflict).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=release >/dev/null
fi
# Two cores and ~400 MB per CAF translation unit: two jobs at most.
ninja -C build -j2 | grep -v '^\[' || true
test -x build/troupe
