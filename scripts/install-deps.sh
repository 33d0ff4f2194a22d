#!/usr/bin/env bash
# Installs what the build and the tests need, if anything is missing: the Debian packages the build
# links against (running `apt-get update` once before the first install), Open MPI's mpirun for the
# multi-rank tests, and numpy for the float64 reference tests. Quiet and quick when everything is
# there.
set -euo pipefail
packages=(liburing-dev libzstd-dev libopenblas-dev libopenmpi-dev openmpi-bin pkg-config)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing missing packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The GPT tests compare against a float64 numpy reference.
if ! python3 -c "import numpy" >/dev/null 2>&1; then
  echo "installing numpy for the reference tests"
  python3 -m pip install --quiet numpy
fi
