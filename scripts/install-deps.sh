#!/bin/sh
# Everything rmq needs to build and test on a fresh Debian 12 machine (run as root or via sudo).
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    build-essential cmake pkg-config git ca-certificates \
    libuv1-dev libjansson-dev libmbedtls-dev libcmocka-dev zlib1g-dev libyaml-dev \
    clang libclang-rt-14-dev clang-format python3 \
    libmicrohttpd-dev python3-prometheus-client curl
