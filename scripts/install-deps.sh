#!/bin/sh
# Install the Debian packages rmlops builds and tests with, when missing.
# Optional: python3-torch and python3-numpy (reference vectors, benchmarks),
# RML_WITH_SLURM=1: slurm-wlm and munge (make check-slurm).
set -e
pkgs="build-essential libopenblas-dev libyaml-dev libjansson-dev libstb-dev libpng-dev libcmocka-dev zlib1g-dev dataset-fashion-mnist mandoc"
[ "${RML_WITH_TORCH:-0}" = 1 ] && pkgs="$pkgs python3-torch python3-numpy"
# Optional: Slurm and munge for make check-slurm. Small, but system daemons
# that a machine with systemd would enable at boot: only on request.
[ "${RML_WITH_SLURM:-0}" = 1 ] && pkgs="$pkgs slurm-wlm munge"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo=sudo
echo "installing:$missing" >&2
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing
