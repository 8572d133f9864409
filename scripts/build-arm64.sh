#!/usr/bin/env bash
# The addons and the capture helper cross-built for linux-arm64 (Debian's g++-aarch64-linux-gnu,
# linked against the arm64 libdw of Debian multiarch), in a node-gyp tree of
# their own: native/build/linux-arm64/build/Release/. Run by npm run
# build:native, so from npm's scripts, with its node-gyp on PATH.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tree=native/build/linux-arm64
mkdir -p "$tree"
# node-gyp builds the binding.gyp of one folder into its build/: a copy of
# the sources, with their times kept, so make rebuilds only what changed.
cp -pR native/binding.gyp native/addon native/core native/symbols native/tools "$tree/"
export CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++
if [ ! -e "$tree/build/Makefile" ] || [ native/binding.gyp -nt "$tree/build/Makefile" ]; then
  node-gyp configure -C "$tree" --arch=arm64
fi
node-gyp build -C "$tree"
