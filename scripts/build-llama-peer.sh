#!/usr/bin/env bash
# Builds llama.cpp's `llama-batched-bench` and `llama-server` as the peer for herd's engine benchmark
# (bench/engine.ts) and the serving comparison.
#
# Default ("prebuilt" mode): only the tools, llama-common, mtmd, cpp-httplib and the UI stub are
# compiled, from the llama.cpp source bundled with node-llama-cpp (the exact commit of the prebuilt
# binaries); they are linked against the SAME prebuilt libllama / libggml / libggml-cpu-<variant> of
# @node-llama-cpp/linux-x64 that herd loads through koffi, so both sides run identical compute kernels
# and a comparison measures only scheduling and serving. A CMake wrapper project (generated below)
# declares the prebuilt libraries as IMPORTED targets and adds llama.cpp's vendor/, common/,
# tools/{batched-bench,mtmd,ui,server} to it; no llama or ggml code is compiled.
#
# `--from-source`: builds everything (libllama + ggml included) from the same source instead, with
# GGML_NATIVE=OFF and explicit AVX2/AVX512 flags (no AMX: avoids the gcc-12 AMX tile-config bug,
# llama-cpp-build.md F1). Only for when the prebuilt route breaks; its kernels differ from herd's.
#
# Idempotent: does nothing when the binaries exist (`--force` rebuilds). Offline: no UI download,
# no OpenSSL. Uses `nice` and -j2 (override with JOBS=N).
#
# Output (git-ignored):
#   .cache/llama.cpp-src/                   clone of node_modules/node-llama-cpp/llama/gitRelease.bundle
#   .cache/llama-peer/bin/llama-batched-bench
#   .cache/llama-peer/bin/llama-server      (+ libllama-common / libmtmd / libllama-server-impl built here,
#                                            and symlinks to the prebuilt libs, RUNPATH=$ORIGIN)
#   .cache/llama-peer/build-info.txt        how it was built, how long it took
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
SRC="$CACHE/llama.cpp-src"
OUT="$CACHE/llama-peer"
BIN="$OUT/bin"
JOBS="${JOBS:-2}"
MODE=prebuilt
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --from-source) MODE=source ;;
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (known: --from-source, --force)" >&2; exit 2 ;;
  esac
done

if [[ $FORCE -eq 0 && -x "$BIN/llama-batched-bench" && -x "$BIN/llama-server" ]]; then
  echo "llama peer already built ($(head -n1 "$OUT/build-info.txt" 2>/dev/null || echo "mode unknown")):"
  echo "  $BIN/llama-batched-bench"
  echo "  $BIN/llama-server"
  exit 0
fi

for tool in git cmake g++; do
  command -v "$tool" >/dev/null || { echo "build-llama-peer: '$tool' is required" >&2; exit 1; }
done
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)

# --- llama.cpp source: the commit of the prebuilt binaries -----------------------------------------
BUNDLE="$ROOT/node_modules/node-llama-cpp/llama/gitRelease.bundle"
if [[ ! -f "$SRC/CMakeLists.txt" ]]; then
  [[ -f "$BUNDLE" ]] || { echo "missing $BUNDLE (run npm ci)" >&2; exit 1; }
  rm -rf "$SRC"
  echo "cloning $BUNDLE -> $SRC"
  git -c advice.detachedHead=false clone -q "$BUNDLE" "$SRC"
fi
COMMIT="$(git -C "$SRC" rev-parse --short HEAD)"
BUILD_NUMBER="$(git -C "$SRC" rev-list --count HEAD)"

# --- the prebuilt libraries herd loads (names carry the release: resolve them) ----------------------
PREBUILT="$(node -e 'const p=require("path");console.log(p.join(p.dirname(require.resolve("@node-llama-cpp/linux-x64/package.json")),"bins","linux-x64"))' 2>/dev/null || true)"
[[ -d "$PREBUILT" ]] || PREBUILT="$ROOT/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64"
pick() { # pick DIR REGEX: the one file in DIR whose name matches REGEX
  local m; m="$(ls "$1" | grep -E "$2" | head -n1 || true)"
  [[ -n "$m" ]] || { echo "build-llama-peer: no file matching $2 in $1" >&2; exit 1; }
  echo "$1/$m"
}

rm -rf "$OUT/build" "$BIN"
mkdir -p "$OUT" "$BIN"
START=$(date +%s)
COMMON_DEFS=(
  -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON
  -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF
  -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF
  -DLLAMA_BUILD_NUMBER="$BUILD_NUMBER" -DLLAMA_BUILD_COMMIT="$COMMIT"
)

if [[ $MODE == prebuilt ]]; then
  LIBLLAMA="$(pick "$PREBUILT" '^libllama\.v[0-9.]+\.so$')"
  LIBGGML="$(pick "$PREBUILT" '^libggml\.v[0-9.]+\.so$')"
  LIBGGML_BASE="$(pick "$PREBUILT" '^libggml-base\.so$')"
  echo "linking against the prebuilt libraries in $PREBUILT:"
  echo "  $(basename "$LIBLLAMA") $(basename "$LIBGGML") $(basename "$LIBGGML_BASE") + libggml-cpu-<variant>.so (chosen at run time)"

  # Wrapper project: a symlink mirror of the llama.cpp tree with its own top-level CMakeLists.txt, so
  # the subprojects' ${CMAKE_SOURCE_DIR}/${PROJECT_SOURCE_DIR} paths (server includes, UI script) resolve.
  WRAP="$OUT/src"
  rm -rf "$WRAP"
  mkdir -p "$WRAP"
  for entry in "$SRC"/* "$SRC"/.git; do
    [[ "$(basename "$entry")" == CMakeLists.txt ]] || ln -s "$entry" "$WRAP/$(basename "$entry")"
  done
  VER_MAJOR=$(sed -n 's/^set(LLAMA_VERSION_MAJOR \([0-9]*\))/\1/p' "$SRC/CMakeLists.txt")
  VER_MINOR=$(sed -n 's/^set(LLAMA_VERSION_MINOR \([0-9]*\))/\1/p' "$SRC/CMakeLists.txt")
  VER_PATCH=$(sed -n 's/^set(LLAMA_VERSION_PATCH \([0-9]*\))/\1/p' "$SRC/CMakeLists.txt")
  cat > "$WRAP/CMakeLists.txt" <<EOF
# Generated by scripts/build-llama-peer.sh: llama.cpp tools against node-llama-cpp's prebuilt libraries.
cmake_minimum_required(VERSION 3.14...3.28)
project("llama.cpp" C CXX)
set(LLAMA_VERSION_MAJOR ${VER_MAJOR})
set(LLAMA_VERSION_MINOR ${VER_MINOR})
set(LLAMA_VERSION_PATCH ${VER_PATCH})
set(LLAMA_VERSION_BASE "\${LLAMA_VERSION_MAJOR}.\${LLAMA_VERSION_MINOR}.\${LLAMA_VERSION_PATCH}")
set(LLAMA_VERSION "\${LLAMA_VERSION_BASE}-dev")
list(APPEND CMAKE_MODULE_PATH "\${CMAKE_CURRENT_SOURCE_DIR}/cmake/")
set(CMAKE_RUNTIME_OUTPUT_DIRECTORY "${BIN}")
set(CMAKE_LIBRARY_OUTPUT_DIRECTORY "${BIN}")
set(CMAKE_BUILD_RPATH "\\\$ORIGIN")
set(CMAKE_BUILD_RPATH_USE_ORIGIN ON)
set(LLAMA_STANDALONE OFF)
option(LLAMA_SUBPROCESS "" ON)
option(LLAMA_TOOLS_INSTALL "" OFF)
option(LLAMA_BUILD_UI "" OFF)
option(LLAMA_USE_PREBUILT_UI "" OFF)
option(LLAMA_OPENSSL "" OFF)
set(LLAMA_SANITIZE_THREAD OFF)
set(LLAMA_SANITIZE_ADDRESS OFF)
set(LLAMA_SANITIZE_UNDEFINED OFF)
include("\${CMAKE_CURRENT_SOURCE_DIR}/cmake/license.cmake")
# llama.cpp's warning flags are irrelevant here; keep the function the subprojects call.
function(llama_add_compile_flags)
endfunction()
find_package(Threads REQUIRED)

add_library(ggml-base SHARED IMPORTED GLOBAL)
set_target_properties(ggml-base PROPERTIES IMPORTED_LOCATION "${LIBGGML_BASE}"
  INTERFACE_INCLUDE_DIRECTORIES "\${CMAKE_CURRENT_SOURCE_DIR}/ggml/include")
add_library(ggml SHARED IMPORTED GLOBAL)
set_target_properties(ggml PROPERTIES IMPORTED_LOCATION "${LIBGGML}"
  INTERFACE_INCLUDE_DIRECTORIES "\${CMAKE_CURRENT_SOURCE_DIR}/ggml/include"
  INTERFACE_LINK_LIBRARIES ggml-base)
add_library(llama SHARED IMPORTED GLOBAL)
set_target_properties(llama PROPERTIES IMPORTED_LOCATION "${LIBLLAMA}"
  INTERFACE_INCLUDE_DIRECTORIES "\${CMAKE_CURRENT_SOURCE_DIR}/include"
  INTERFACE_LINK_LIBRARIES ggml)

add_subdirectory(vendor)
add_subdirectory(common)
add_subdirectory(tools/batched-bench)
add_subdirectory(tools/mtmd)
add_subdirectory(tools/ui)
add_subdirectory(tools/server)
EOF
  # The tools find the CPU backend variants (GGML_BACKEND_DL) next to the executable.
  for so in "$PREBUILT"/libggml*.so "$LIBLLAMA"; do ln -sfr "$so" "$BIN/$(basename "$so")"; done

  echo "configuring ($OUT/build)"
  cmake -S "$WRAP" -B "$OUT/build" "${GEN[@]}" "${COMMON_DEFS[@]}" -DCMAKE_SHARED_LINKER_FLAGS=-Wl,--no-undefined >"$OUT/configure.log" 2>&1 \
    || { tail -n 40 "$OUT/configure.log"; exit 1; }
  echo "building llama-batched-bench llama-server (nice, -j$JOBS; log: $OUT/build.log)"
  nice -n 10 cmake --build "$OUT/build" -j"$JOBS" --target llama-batched-bench llama-server >"$OUT/build.log" 2>&1 \
    || { grep -E 'error|undefined' "$OUT/build.log" | head -n 40; tail -n 20 "$OUT/build.log"; exit 1; }
  METHOD="prebuilt: tools built from llama.cpp $COMMIT, linked against $(basename "$LIBLLAMA") $(basename "$LIBGGML") $(basename "$LIBGGML_BASE") of $PREBUILT"
else
  echo "building llama.cpp $COMMIT from source (GGML_NATIVE=OFF, AVX2/AVX512 flags, no AMX)"
  cmake -S "$SRC" -B "$OUT/build" "${GEN[@]}" "${COMMON_DEFS[@]}" -DGGML_CCACHE=OFF \
    -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX_VNNI=ON \
    -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF \
    -DCMAKE_RUNTIME_OUTPUT_DIRECTORY="$BIN" -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$BIN" >"$OUT/configure.log" 2>&1 \
    || { tail -n 40 "$OUT/configure.log"; exit 1; }
  echo "building (nice, -j$JOBS; ~8 min on 2 cores; log: $OUT/build.log)"
  nice -n 10 cmake --build "$OUT/build" -j"$JOBS" --target llama-batched-bench llama-server >"$OUT/build.log" 2>&1 \
    || { grep -E 'error' "$OUT/build.log" | head -n 40; tail -n 20 "$OUT/build.log"; exit 1; }
  METHOD="from source: llama.cpp $COMMIT, GGML_NATIVE=OFF + AVX2/AVX512 flags, no AMX (kernels differ from the prebuilt ones herd uses)"
fi

SECS=$(( $(date +%s) - START ))
# Smoke check: both binaries start and resolve their libraries.
"$BIN/llama-batched-bench" --help >/dev/null 2>&1 || { echo "llama-batched-bench does not start:"; ldd "$BIN/llama-batched-bench" | grep -i 'not found'; exit 1; }
"$BIN/llama-server" --version >/dev/null 2>&1 || { echo "llama-server does not start:"; ldd "$BIN/llama-server" | grep -i 'not found'; exit 1; }
{
  echo "$METHOD"
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) in ${SECS}s with -j$JOBS ($(g++ --version | head -n1))"
} >"$OUT/build-info.txt"
echo "done in ${SECS}s: $METHOD"
echo "  $BIN/llama-batched-bench"
echo "  $BIN/llama-server"
echo "  ldd: $(ldd "$BIN/llama-server" | grep -E 'libllama|libggml' | awk '{print $1 " -> " $3}' | tr '\n' ' ')"
