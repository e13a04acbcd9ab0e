#!/usr/bin/env bash
# One-time set-up for a fresh Debian machine: system packages, then llama.cpp built
# from the pinned npm bundle. Idempotent: every step is skipped when already done.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
third="$root/third_party"
npm_pkg=node-llama-cpp
npm_version=3.21.1
npm_sha256=7a231d6bafa14142a1cbed9893d4ec5bc6041b2a5f5939a623accaab4203c11f
llama_commit=80fb11ac73e66d89eae2c6a91d8a77428fa733ed

log() { printf '[setup] %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------
packages=(build-essential cmake ninja-build pkg-config git
  libcurl4-openssl-dev nlohmann-json3-dev libsqlite3-dev libcli11-dev
  libspdlog-dev libfmt-dev libcpp-httplib-dev libgtest-dev libgmock-dev
  libbenchmark-dev librsvg2-bin clang)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- the official openai npm client, pinned, for tests/openai_compat ---------
# Installed from its lockfile once; offline, the step fails softly and the
# compatibility test reports itself skipped.
compat="$root/tests/openai_compat"
if [ ! -f "$compat/node_modules/openai/package.json" ]; then
  log "installing the pinned openai npm client for the compatibility test"
  npm ci --prefix "$compat" --no-audit --no-fund --loglevel=error >/dev/null ||
    log "warning: npm ci failed (offline?); tests/openai_compat_test will be skipped"
fi

# --- llama.cpp source from the pinned npm package --------------------------
prefix="$third/llama"
if [ -f "$prefix/.built-$llama_commit" ]; then
  exit 0
fi
mkdir -p "$third/cache"
tarball="$third/cache/$npm_pkg-$npm_version.tgz"
if [ ! -f "$tarball" ]; then
  log "fetching $npm_pkg@$npm_version from the npm registry"
  (cd "$third/cache" && npm pack --silent "$npm_pkg@$npm_version" >/dev/null)
fi
got=$(sha256sum "$tarball" | cut -d' ' -f1)
if [ "$got" != "$npm_sha256" ]; then
  log "sha256 mismatch for $tarball: expected $npm_sha256, got $got" >&2
  rm -f "$tarball"
  exit 1
fi
src="$third/llama.cpp"
if [ ! -d "$src/.git" ]; then
  log "unpacking the llama.cpp git bundle"
  tar -xzf "$tarball" -C "$third/cache" package/llama/gitRelease.bundle
  rm -rf "$src"
  git clone -q "$third/cache/package/llama/gitRelease.bundle" "$src"
fi
git -C "$src" -c advice.detachedHead=false checkout -q "$llama_commit"

# --- build llama.cpp: CPU only, static, once --------------------------------
log "building llama.cpp (CPU, static; a few minutes on 2 cores, done once)"
jobs=$(nproc)
cmake -S "$src" -B "$src/build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF \
  -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_CURL=OFF \
  -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
cmake --build "$src/build" -j "$jobs" --target llama ggml llama-server
# Install only what sleeptime links against: ggml and llama (the tools'
# install rules expect every tool to be built).
cmake --install "$src/build/ggml" --prefix "$prefix" >/dev/null
cmake -DCMAKE_INSTALL_LOCAL_ONLY=ON -DCMAKE_INSTALL_PREFIX="$prefix" -P "$src/build/cmake_install.cmake" >/dev/null
mkdir -p "$prefix/bin"
# llama-server is used by tests that check the demo model loads in it too.
install -m 755 "$src/build/bin/llama-server" "$prefix/bin/llama-server"
touch "$prefix/.built-$llama_commit"
log "llama.cpp ready in $prefix"
