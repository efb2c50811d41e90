#!/usr/bin/env bash
# Installs the peers' Debian packages (when missing) and compiles the hnswlib driver with AVX-512 where available.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -f /usr/include/hnswlib/hnswlib.h ] || ! /usr/bin/python3 -c "import faiss" 2>/dev/null; then
  apt-get update -qq
  apt-get install -y -qq libhnswlib-dev python3-faiss python3-numpy g++ >/dev/null
fi
mkdir -p bin
g++ -O3 -march=native -std=c++17 -pthread hnswlib_driver.cpp -o bin/hnswlib_driver
echo "built $(pwd)/bin/hnswlib_driver"
