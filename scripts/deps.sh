#!/usr/bin/env bash
# Installs the Debian packages ringtrain needs, skipping those already there:
# the Fashion-MNIST data, OpenBLAS for the fast build, protoc for `make proto`,
# and any packages named as arguments (`make bench` adds python3-torch:
# PyTorch's Gloo all-reduce and DDP are baselines of the benchmarks).
set -euo pipefail

pkgs=(dataset-fashion-mnist libopenblas-dev protobuf-compiler gcc make "$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
