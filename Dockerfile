# flowsweep worker images: one Dockerfile, two variants (targets). See docs/cluster.md.
#
#   portable  plain Debian: Deno, OpenBLAS (`blas` backend), the project. WebGPU, once the GPU engine lands,
#             goes through the host's Vulkan driver (NVIDIA_DRIVER_CAPABILITIES below; libvulkan1 is the loader).
#   cuda      nvidia/cuda 11.2.2 + cuDNN 8.1 (Ubuntu 20.04) with @tensorflow/tfjs-node-gpu 4.22, which loads
#             libtensorflow 2.9.1, built for exactly CUDA 11.2 + cuDNN 8.1 (`tensorflow` backend on the GPU).
#
#   podman build --target portable -t flowsweep-worker:portable .      # or: docker build --target portable ...
#   podman build --target cuda     -t flowsweep-worker:cuda .
#   podman run --rm flowsweep-worker:portable --nats nats://broker:4222 --name w1
#   podman run --rm flowsweep-worker:portable --probe --nats nats://broker:4222   # broker reachable? backend?
#
# The portable image is built and run by tests/container/worker_image.ts (CI: `deno task test:container`), on a
# base made locally with debootstrap (BASE_IMAGE=localhost/...). The cuda target has not been built here: its base
# comes from a registry and tfjs-node-gpu's install downloads libtensorflow from storage.googleapis.com.
#
# Every download is its own RUN step under `bash -o pipefail -eu`, with curl -f: a failed download fails the
# step that made it, with curl's message, not a later one. Dependencies come from deno.lock (`--frozen`), the
# images run as the unprivileged user `flowsweep`, and `worker --help` runs at build time as a smoke check.

ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim
ARG CUDA_IMAGE=docker.io/nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04
# Deno comes from npm: the registry tarball of @deno/linux-<arch>-glibc holds just the `deno` binary.
ARG DENO_VERSION=2.9.6
ARG NPM_REGISTRY=https://registry.npmjs.org

# ---------------------------------------------------------------------------------------------------- deno
FROM ${BASE_IMAGE} AS deno
ARG DENO_VERSION
ARG NPM_REGISTRY
SHELL ["/bin/bash", "-o", "pipefail", "-euc"]
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
RUN case "$(dpkg --print-architecture)" in \
      amd64) arch=x64 ;; arm64) arch=arm64 ;; \
      *) echo "no Deno build on npm for $(dpkg --print-architecture)" >&2; exit 1 ;; \
    esac \
 && url="${NPM_REGISTRY}/@deno/linux-${arch}-glibc/-/linux-${arch}-glibc-${DENO_VERSION}.tgz" \
 && echo "downloading ${url}" \
 && curl -fsSL --retry 3 -o /tmp/deno.tgz "${url}" \
 && tar -xzf /tmp/deno.tgz -C /tmp \
 && install -m 0755 /tmp/package/deno /usr/local/bin/deno \
 && rm -rf /tmp/deno.tgz /tmp/package \
 && deno --version

# ----------------------------------------------------------------------------------------------------- app
# The project and its npm dependencies exactly as locked (node_modules + the Deno cache), platform-neutral
# (JavaScript and WebAssembly only), shared by both variants.
FROM deno AS app
ARG NPM_REGISTRY
# Trust the system store too (it holds any CA the base added, e.g. a TLS-intercepting proxy's).
ENV DENO_DIR=/opt/deno-dir DENO_NO_UPDATE_CHECK=1 NPM_CONFIG_REGISTRY=${NPM_REGISTRY} DENO_TLS_CA_STORE=system,mozilla
WORKDIR /app
COPY . .
# node_modules holds every npm package; Deno's own copy of them (DENO_DIR/npm, ~110 MB) is not needed to run.
RUN deno install --frozen --entrypoint main.ts \
 && rm -rf "${DENO_DIR}/npm" \
 && deno run -A --cached-only main.ts worker --help >/dev/null

# ---------------------------------------------------------------------------------------------------- tfjs
# tfjs-node-gpu 4.22's install script downloads libtensorflow-gpu-linux-x86_64-2.9.1.tar.gz and the Node-API
# binding (napi-v8, GPU-linux-4.22.0.tar.gz) from storage.googleapis.com, and builds the binding with node-gyp if
# no prebuilt one matches. Node is needed only for that install, so it lives in this stage alone.
FROM ${CUDA_IMAGE} AS tfjs
ARG NODE_VERSION=20.20.2
ARG TFJS_VERSION=4.22.0
ARG NPM_REGISTRY
SHELL ["/bin/bash", "-o", "pipefail", "-euc"]
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl xz-utils python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
RUN base="https://nodejs.org/dist/v${NODE_VERSION}" \
 && file="node-v${NODE_VERSION}-linux-x64.tar.xz" \
 && echo "downloading ${base}/${file}" \
 && curl -fsSL --retry 3 -o "/tmp/${file}" "${base}/${file}" \
 && curl -fsSL --retry 3 -o /tmp/SHASUMS256.txt "${base}/SHASUMS256.txt" \
 && (cd /tmp && grep " ${file}\$" SHASUMS256.txt | sha256sum -c -) \
 && tar -xJf "/tmp/${file}" -C /usr/local --strip-components=1 \
 && rm -f "/tmp/${file}" /tmp/SHASUMS256.txt \
 && node --version
WORKDIR /opt/tfjs
RUN echo '{"name":"flowsweep-tfjs","private":true}' > package.json \
 && npm install --omit=dev --no-audit --no-fund --registry "${NPM_REGISTRY}" "@tensorflow/tfjs-node-gpu@${TFJS_VERSION}"
# The install must have left libtensorflow 2.9.1 and a binding; fail here, naming what is missing, if not.
RUN pkg=node_modules/@tensorflow/tfjs-node-gpu \
 && ls "${pkg}"/deps/lib/libtensorflow.so.2.9.1 "${pkg}"/deps/lib/libtensorflow_framework.so.2.9.1 \
 && ls "${pkg}"/lib/napi-v*/tfjs_binding.node

# -------------------------------------------------------------------------------------------------- cuda
FROM ${CUDA_IMAGE} AS cuda
SHELL ["/bin/bash", "-o", "pipefail", "-euc"]
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libopenblas0-pthread \
 && rm -rf /var/lib/apt/lists/*
# libtensorflow 2.9.1 dlopens these at run time; the base must carry the CUDA 11 / cuDNN 8 sonames.
# (libcuda.so.1 itself comes from the host's driver, mounted by the NVIDIA container toolkit.)
RUN for lib in libcudart.so.11.0 libcublas.so.11 libcublasLt.so.11 libcufft.so.10 libcurand.so.10 \
               libcusolver.so.11 libcusparse.so.11 libcudnn.so.8; do \
      ldconfig -p | grep -q "${lib}" \
        || { echo "CUDA base lacks ${lib}: libtensorflow 2.9.1 needs CUDA 11.2 + cuDNN 8.1" >&2; exit 1; }; \
    done \
 && echo "CUDA runtime and cuDNN in this base:" \
 && ls /usr/local/cuda/lib64/libcudart.so.11.* /usr/lib/x86_64-linux-gnu/libcudnn.so.8.*
COPY --from=deno /usr/local/bin/deno /usr/local/bin/deno
COPY --from=tfjs /opt/tfjs /opt/tfjs
COPY --from=app /opt/deno-dir /opt/deno-dir
COPY --from=app /app /app
# The `tensorflow` backend loads @tensorflow/tfjs-node from ./node_modules: point that name at the GPU build.
RUN mkdir -p /app/node_modules/@tensorflow \
 && ln -sfn /opt/tfjs/node_modules/@tensorflow/tfjs-node-gpu /app/node_modules/@tensorflow/tfjs-node \
 && useradd --uid 10001 --user-group --create-home --home-dir /home/flowsweep flowsweep
ENV DENO_DIR=/opt/deno-dir DENO_NO_UPDATE_CHECK=1 DENO_TLS_CA_STORE=system,mozilla \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER flowsweep
WORKDIR /app
RUN deno run -A --cached-only main.ts worker --help >/dev/null
ENTRYPOINT ["deno", "run", "-A", "--cached-only", "main.ts", "worker"]
CMD ["--help"]

# ------------------------------------------------------------------------------------------------ portable
FROM ${BASE_IMAGE} AS portable
SHELL ["/bin/bash", "-o", "pipefail", "-euc"]
ENV DEBIAN_FRONTEND=noninteractive
# OpenBLAS for the `blas` backend; libvulkan1 is the Vulkan loader through which WebGPU reaches the host's
# driver (the NVIDIA container toolkit mounts the driver's Vulkan ICD when `graphics` is among the capabilities).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libopenblas0-pthread libvulkan1 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=deno /usr/local/bin/deno /usr/local/bin/deno
COPY --from=app /opt/deno-dir /opt/deno-dir
COPY --from=app /app /app
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/flowsweep flowsweep
ENV DENO_DIR=/opt/deno-dir DENO_NO_UPDATE_CHECK=1 DENO_TLS_CA_STORE=system,mozilla \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics
USER flowsweep
WORKDIR /app
RUN deno run -A --cached-only main.ts worker --help >/dev/null
# Workers open no port: they dial out to NATS. `--probe` (see docs/cluster.md) is the health check.
ENTRYPOINT ["deno", "run", "-A", "--cached-only", "main.ts", "worker"]
CMD ["--help"]
