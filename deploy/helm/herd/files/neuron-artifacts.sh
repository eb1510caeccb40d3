#!/bin/sh
# Neuron compiled artifacts for the chart's vllm-neuron backend, with no herd image: this runs in the
# public AWS CLI image (stage, publish) and in the Neuron vLLM image (serve). POSIX sh, coreutils,
# sed; `aws s3` for S3. The artifact layout is herd's (docs/compile.md, "Neuron artifacts"): the
# compiled files, herd-compile.env (HERD_NEURON_*=value), SHA256SUMS (coreutils format) and
# herd-manifest.json, which a publisher uploads last.
#
#   stage SRC DEST   s3://… into DEST (the pod's artifacts volume). The manifest first (none: refused),
#                    then herd-compile.env, whose TP degree and sequence length must equal
#                    HERD_EXPECT_TP_DEGREE / HERD_EXPECT_SEQ_LEN (fails fast, before any data moves),
#                    then `aws s3 sync` into DEST/.staging (a restarted init container resumes:
#                    complete files are skipped), `sha256sum -c SHA256SUMS` (any difference: refused,
#                    nothing staged, the failed files deleted for the retry), the listed files moved
#                    into DEST, and DEST/.herd-staged (the manifest's sha256) written last. A DEST
#                    already staged from the same manifest is kept.
#   serve CMD ARG…   before vLLM starts: $NEURON_COMPILED_ARTIFACTS must hold a compiled model
#                    (model.pt, neuron_config.json) whose TP degree and sequence length equal ARG…'s
#                    --tensor-parallel-size and --max-model-len, or vLLM would recompile for 30-90 min;
#                    says what it loads, then execs CMD ARG….
#   checkpoint SRC DEST   for the vllm (GPU) backend: a Hugging Face checkpoint folder s3://… into DEST
#                    the same way (`aws s3 sync` into DEST/.staging, resumable; `sha256sum -c SHA256SUMS`
#                    when the folder has one; config.json required), moved into place, marker last.
#   publish SRC DEST after the compile Job described SRC (neuron-manifest.py): SRC verified against its
#                    SHA256SUMS, DEST's manifest deleted, the rest synced up, the manifest uploaded last.
#
# Env: AWS_ENDPOINT_URL_S3 (an S3-compatible endpoint, addressed path-style), AWS_REGION, credentials
# as the AWS CLI finds them (env, IRSA, Pod Identity); HERD_AWS: the AWS CLI command (default aws).
set -eu

MANIFEST=herd-manifest.json
SUMS=SHA256SUMS
SETTINGS=herd-compile.env
MARKER=.herd-staged

say() { echo "herd-artifacts: $*"; }
die() {
  echo "herd-artifacts: error: $*" >&2
  exit 1
}

# `aws s3 ARG…`, with the endpoint and path-style addressing of an S3-compatible store when one is set.
s3() {
  if [ -n "${AWS_ENDPOINT_URL_S3:-}" ]; then
    if [ -z "${AWS_CONFIG_FILE:-}" ]; then
      AWS_CONFIG_FILE=$(mktemp)
      printf '[default]\ns3 =\n  addressing_style = path\n' >"$AWS_CONFIG_FILE"
      export AWS_CONFIG_FILE
    fi
    ${HERD_AWS:-aws} --endpoint-url "$AWS_ENDPOINT_URL_S3" s3 "$@"
  else
    ${HERD_AWS:-aws} s3 "$@"
  fi
}
[ -z "${AWS_REGION:-}" ] || export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-$AWS_REGION}"

# setting FILE NAME: the digits of HERD_NEURON_NAME in FILE, or nothing.
setting() { sed -n "s/^HERD_NEURON_$2=\([0-9][0-9]*\)\$/\1/p" "$1" | head -n 1; }

# check_settings FILE WHAT TP SEQ_LEN: fails, one line per mismatch, unless the artifact described by
# FILE (herd-compile.env of WHAT) was compiled for TP degree TP and sequence length SEQ_LEN.
check_settings() {
  got_tp=$(setting "$1" TP_DEGREE)
  got_len=$(setting "$1" SEQ_LEN)
  bad=""
  if [ -n "$3" ] && [ -n "$got_tp" ] && [ "$got_tp" != "$3" ]; then
    bad="${bad}$2 was compiled for TP degree $got_tp, this pod runs vLLM with --tensor-parallel-size $3 (modelParameters.tensorParallelSize)
"
  fi
  if [ -n "$4" ] && [ -n "$got_len" ] && [ "$got_len" != "$4" ]; then
    bad="${bad}$2 was compiled for sequence length $got_len, this pod runs vLLM with --max-model-len $4 (modelParameters.maxModelLen)
"
  fi
  if [ -n "$bad" ]; then
    printf '%s' "$bad" | sed 's/^/herd-artifacts: error: /' >&2
    die "vLLM would recompile (30-90 min) instead of loading: compile for these settings (compileJob) or deploy with the artifact's"
  fi
  [ -n "$got_tp" ] && [ -n "$got_len" ] || say "note: $2 does not record its TP degree and sequence length; they were not checked"
}

# verify_sums DIR: `sha256sum -c` of DIR/SHA256SUMS; on failure prints what differs and deletes the files
# that failed, so that a retry downloads them again rather than keeping them.
verify_sums() {
  if (cd "$1" && sha256sum -c --strict --quiet "$SUMS") >"$1/.check" 2>&1; then
    rm -f "$1/.check"
    return 0
  fi
  cat "$1/.check" >&2
  sed -n 's/: FAILED.*$//p' "$1/.check" | while IFS= read -r bad; do rm -f "$1/$bad"; done
  rm -f "$1/.check"
  return 1
}

stage() {
  [ $# -eq 2 ] || die "usage: stage s3://bucket/prefix DEST"
  src=${1%/}
  dest=$2
  tmp=$dest/.staging
  mkdir -p "$tmp"
  s3 cp --only-show-errors "$src/$MANIFEST" "$tmp/$MANIFEST" ||
    die "no $MANIFEST at $src: publish the artifact first (the chart's compile Job, or herd artifacts push DIR $src)"
  want=$(sha256sum "$tmp/$MANIFEST" | cut -d ' ' -f 1)
  if [ -f "$dest/$MARKER" ] && [ "$(cat "$dest/$MARKER")" = "$want" ]; then
    check_settings "$dest/$SETTINGS" "$src" "${HERD_EXPECT_TP_DEGREE:-}" "${HERD_EXPECT_SEQ_LEN:-}"
    rm -rf "$tmp"
    say "$dest is already staged from $src (manifest sha256 $want)"
    return 0
  fi
  rm -f "$dest/$MARKER"
  s3 cp --only-show-errors "$src/$SETTINGS" "$tmp/$SETTINGS" ||
    die "no $SETTINGS at $src: not a Neuron artifact described by herd (herd artifacts push DIR $src describes one)"
  check_settings "$tmp/$SETTINGS" "$src" "${HERD_EXPECT_TP_DEGREE:-}" "${HERD_EXPECT_SEQ_LEN:-}"
  say "syncing $src into $tmp (resumable: complete files are skipped)"
  s3 sync --only-show-errors --no-progress --exclude "$MANIFEST" "$src" "$tmp"
  [ -f "$tmp/$SUMS" ] || die "no $SUMS at $src: not a Neuron artifact described by herd"
  verify_sums "$tmp" || die "$src does not match its $SUMS (the files above differ or are missing): corrupted or half-published; nothing was staged"
  s3 cp --only-show-errors "$src/$MANIFEST" "$tmp/$MANIFEST.now" || die "$src lost its $MANIFEST while it was staged"
  [ "$(sha256sum "$tmp/$MANIFEST.now" | cut -d ' ' -f 1)" = "$want" ] ||
    die "$src was republished while it was staged; the next try stages the new one"
  n=0
  while IFS= read -r line; do
    rest=${line#* }
    path=${rest#?}
    mkdir -p "$(dirname "$dest/$path")"
    mv -f "$tmp/$path" "$dest/$path"
    n=$((n + 1))
  done <"$tmp/$SUMS"
  mv -f "$tmp/$SUMS" "$dest/$SUMS"
  mv -f "$tmp/$MANIFEST" "$dest/$MANIFEST"
  rm -rf "$tmp"
  echo "$want" >"$dest/$MARKER"
  say "staged $src into $dest: $n files sha256-verified against $SUMS"
}

checkpoint() {
  [ $# -eq 2 ] || die "usage: checkpoint s3://bucket/prefix DEST"
  src=${1%/}
  dest=$2
  tmp=$dest/.staging
  if [ -f "$dest/$MARKER" ] && [ "$(cat "$dest/$MARKER")" = "$src" ]; then
    say "$dest is already staged from $src"
    return 0
  fi
  rm -f "$dest/$MARKER"
  mkdir -p "$tmp"
  say "syncing $src into $tmp (resumable: complete files are skipped)"
  s3 sync --only-show-errors --no-progress "$src" "$tmp"
  [ -f "$tmp/config.json" ] || die "$src has no config.json: not a Hugging Face checkpoint folder; nothing was staged"
  if [ -f "$tmp/$SUMS" ] && ! verify_sums "$tmp"; then
    die "$src does not match its $SUMS (the files above differ or are missing); nothing was staged"
  fi
  n=$(cd "$tmp" && find . -type f | wc -l | tr -d ' ')
  (cd "$tmp" && find . -type f | sed 's|^\./||') | while IFS= read -r path; do
    mkdir -p "$(dirname "$dest/$path")"
    mv -f "$tmp/$path" "$dest/$path"
  done
  rm -rf "$tmp"
  echo "$src" >"$dest/$MARKER"
  say "staged $src into $dest: $n files$([ -f "$dest/$SUMS" ] && echo ", sha256-verified against $SUMS")"
}

serve() {
  [ $# -ge 1 ] || die "usage: serve CMD [ARG…]"
  dir=${NEURON_COMPILED_ARTIFACTS:?NEURON_COMPILED_ARTIFACTS is not set}
  tp=""
  len=""
  prev=""
  for a in "$@"; do
    case $prev in
    --tensor-parallel-size | -tp) tp=$a ;;
    --max-model-len) len=$a ;;
    esac
    case $a in
    --tensor-parallel-size=*) tp=${a#*=} ;;
    --max-model-len=*) len=${a#*=} ;;
    esac
    prev=$a
  done
  [ -f "$dir/model.pt" ] && [ -f "$dir/neuron_config.json" ] ||
    die "$dir holds no compiled model (model.pt, neuron_config.json): vLLM would compile for 30-90 min instead of loading; publish one with the compile Job (compileJob.enabled) or herd artifacts push"
  if [ -f "$dir/$MARKER" ]; then
    how="staged and sha256-verified in this pod"
  elif [ -f "$dir/$SUMS" ]; then
    how="not verified in this pod; sha256sum -c $SUMS checks it"
  else
    how="no $SUMS to verify it by"
  fi
  if [ -f "$dir/$SETTINGS" ]; then
    check_settings "$dir/$SETTINGS" "$dir" "$tp" "$len"
  else
    say "note: $dir has no $SETTINGS; its TP degree and sequence length were not checked"
  fi
  say "loading precompiled Neuron artifacts from $dir (--tensor-parallel-size ${tp:-?}, --max-model-len ${len:-?}; $how), no compile;" \
    "vLLM logs 'Successfully loaded pre-compiled model artifacts' next"
  exec "$@"
}

publish() {
  [ $# -eq 2 ] || die "usage: publish DIR s3://bucket/prefix"
  src=$1
  dest=${2%/}
  for f in "$MANIFEST" "$SUMS" "$SETTINGS"; do
    [ -f "$src/$f" ] || die "$src/$f is missing: the compile step did not describe the artifact (neuron-manifest.py)"
  done
  (cd "$src" && sha256sum -c --strict --quiet "$SUMS") || die "$src does not match its $SUMS; not published"
  s3 rm --only-show-errors "$dest/$MANIFEST" || die "cannot delete $dest/$MANIFEST before publishing (credentials? bucket?)"
  s3 sync --only-show-errors --no-progress --exclude "$MANIFEST" --exclude "$MARKER" --exclude '.staging/*' "$src" "$dest"
  s3 cp --only-show-errors "$src/$MANIFEST" "$dest/$MANIFEST"
  say "published $src to $dest ($(wc -l <"$src/$SUMS" | tr -d ' ') files and $SUMS; $MANIFEST last)"
}

mode=${1:-}
[ $# -eq 0 ] || shift
case $mode in
stage) stage "$@" ;;
checkpoint) checkpoint "$@" ;;
serve) serve "$@" ;;
publish) publish "$@" ;;
*) die "usage: $0 stage SRC DEST | checkpoint SRC DEST | serve CMD [ARG…] | publish DIR DEST" ;;
esac
