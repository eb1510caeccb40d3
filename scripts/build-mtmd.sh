#!/usr/bin/env bash
# Builds llama.cpp's libmtmd (the clip/mtmd vision encoder) against the PREBUILT libllama/libggml of a
# @node-llama-cpp/<platform> package. libmtmd is not among the prebuilt libraries; its sources come from
# the same-commit llama.cpp bundled with node-llama-cpp (llama/gitRelease.bundle), so its headers match
# the prebuilt ABI exactly. Only libmtmd is compiled (~50 files, about 1 min on 2 free cores): no llama or
# ggml code. Recipe: ../shared/reference/llama-cpp-build.md Q2.
#
#   scripts/build-mtmd.sh --bin-dir <package bins dir> --bundle <gitRelease.bundle> --out <path/libmtmd.so>
#
# Needs git, cmake (>= 3.16), a C/C++17 compiler (g++) and make or ninja. Writes --out atomically (temp
# file + rename); everything else happens in a temp folder next to it, removed on exit. Compiles at
# `nice -n 10` with HERD_BUILD_JOBS jobs (default 2). Usually run by ensureLibmtmd() (src/native/mtmd-build.ts)
# or `npm run build:mtmd`, which pick the arguments.
set -euo pipefail

BIN_DIR="" BUNDLE="" OUT=""
JOBS="${HERD_BUILD_JOBS:-2}"
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) BIN_DIR="$2"; shift 2 ;;
    --bundle) BUNDLE="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --jobs) JOBS="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "build-mtmd: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$BIN_DIR" ] || [ -z "$BUNDLE" ] || [ -z "$OUT" ]; then
  echo "build-mtmd: --bin-dir, --bundle and --out are required (--help)" >&2; exit 2
fi

missing=()
for tool in git cmake; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
CXX="${CXX:-$(command -v g++ || command -v c++ || true)}"
CC="${CC:-$(command -v gcc || command -v cc || true)}"
[ -n "$CXX" ] || missing+=("g++")
[ -n "$CC" ] || missing+=("gcc")
GENERATOR=()
if command -v ninja >/dev/null 2>&1; then GENERATOR=(-G Ninja)
elif ! command -v make >/dev/null 2>&1; then missing+=("make"); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-mtmd: cannot build libmtmd (needed for image input): missing ${missing[*]}." >&2
  echo "  Install them (Debian/Ubuntu: apt-get install -y cmake g++ make git), or point HERD_LIBMTMD at a prebuilt libmtmd.so." >&2
  exit 3
fi

find_lib() { # find_lib <dir> <regex>: the one file in dir whose name matches
  local f; f="$(ls "$1" | grep -E "$2" | grep -v common | head -n 1 || true)"
  [ -n "$f" ] || { echo "build-mtmd: $1 has no library matching $2" >&2; exit 4; }
  echo "$1/$f"
}
[ -d "$BIN_DIR" ] || { echo "build-mtmd: --bin-dir $BIN_DIR is not a folder" >&2; exit 4; }
BIN_DIR="$(cd "$BIN_DIR" && pwd)"
LIB_GGML_BASE="$(find_lib "$BIN_DIR" '^libggml-base\.so$')"
LIB_GGML="$(find_lib "$BIN_DIR" '^libggml\..*\.so$')"
LIB_LLAMA="$(find_lib "$BIN_DIR" '^libllama\..*\.so$')"
[ -f "$BUNDLE" ] || { echo "build-mtmd: llama.cpp source bundle $BUNDLE not found (reinstall node-llama-cpp)" >&2; exit 4; }

mkdir -p "$(dirname "$OUT")"
OUT="$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")"
BUNDLE="$(cd "$(dirname "$BUNDLE")" && pwd)/$(basename "$BUNDLE")"
WORK="$(mktemp -d "$(dirname "$OUT")/.build-mtmd.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# Only the files libmtmd needs: public headers, its own sources and the vendored hash/stb/miniaudio/subprocess.
git clone -q --no-checkout "$BUNDLE" "$WORK/llama.cpp"
git -C "$WORK/llama.cpp" -c advice.detachedHead=false checkout -q HEAD -- include ggml/include src/llama-ext.h tools/mtmd vendor

cat > "$WORK/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.16)
project(herd_mtmd C CXX)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)

# vendor/*/CMakeLists.txt call llama.cpp's warning-flags helper; not needed here.
function(llama_add_compile_flags)
endfunction()

set(LLAMA_SRC ${CMAKE_CURRENT_SOURCE_DIR}/llama.cpp)
add_subdirectory(${LLAMA_SRC}/vendor vendor)
find_package(Threads REQUIRED)

# The prebuilt libraries (their SONAMEs equal their file names).
foreach(pair "ggml_base;${LIB_GGML_BASE}" "ggml;${LIB_GGML}" "llama;${LIB_LLAMA}")
  list(GET pair 0 name)
  list(GET pair 1 path)
  add_library(prebuilt_${name} SHARED IMPORTED)
  set_target_properties(prebuilt_${name} PROPERTIES IMPORTED_LOCATION ${path})
endforeach()

# Same sources as tools/mtmd/CMakeLists.txt (its model list is exactly models/*.cpp).
file(GLOB MTMD_MODELS ${LLAMA_SRC}/tools/mtmd/models/*.cpp)
set(M ${LLAMA_SRC}/tools/mtmd)
add_library(mtmd SHARED ${M}/mtmd.cpp ${M}/mtmd-audio.cpp ${M}/mtmd-image.cpp ${M}/mtmd-helper.cpp
            ${M}/mtmd-helper-gen.cpp ${M}/clip.cpp ${MTMD_MODELS})
# The 44 model graph files are small and mostly header parsing: one unity unit for them cuts the
# build's CPU time by about a third. The other files compile on their own, as upstream.
set_target_properties(mtmd PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 0)
set_source_files_properties(${M}/mtmd.cpp ${M}/mtmd-audio.cpp ${M}/mtmd-image.cpp ${M}/mtmd-helper.cpp
                            ${M}/mtmd-helper-gen.cpp ${M}/clip.cpp PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
target_compile_features(mtmd PRIVATE cxx_std_17)
target_compile_definitions(mtmd PRIVATE LLAMA_BUILD LLAMA_SHARED MTMD_VIDEO)
target_compile_options(mtmd PRIVATE -Wno-cast-qual)
target_include_directories(mtmd PRIVATE ${M} ${LLAMA_SRC}/include ${LLAMA_SRC}/ggml/include)
target_link_libraries(mtmd PRIVATE prebuilt_llama prebuilt_ggml prebuilt_ggml_base Threads::Threads
                      vendor::hash vendor::miniaudio vendor::stb vendor::sheredom)
# Every symbol must resolve against the prebuilt libraries now, not at dlopen time; find them at run time
# in their package folder.
target_link_options(mtmd PRIVATE -Wl,--no-undefined "-Wl,-rpath,${PREBUILT_DIR}")
EOF

cd "$WORK"
nice -n 10 cmake -S . -B build "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
  -DLIB_GGML_BASE="$LIB_GGML_BASE" -DLIB_GGML="$LIB_GGML" -DLIB_LLAMA="$LIB_LLAMA" \
  -DPREBUILT_DIR="$BIN_DIR" >build.log 2>&1 || { cat build.log >&2; exit 5; }
nice -n 10 cmake --build build -j "$JOBS" --target mtmd >>build.log 2>&1 || { tail -n 60 build.log >&2; exit 5; }

cp build/libmtmd.so "$WORK/libmtmd.so.tmp"
mv -f "$WORK/libmtmd.so.tmp" "$OUT"
echo "build-mtmd: wrote $OUT"
