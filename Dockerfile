# flowsweep GPU worker image: `flowsweep worker --nats URL` on a CUDA machine (see docs/cluster.md).
#
#   docker build -t flowsweep-worker .
#   docker run --gpus all --rm flowsweep-worker --nats nats://nats.example:4222 --name gpu-1
#
# Compute: the `tensorflow` backend (backends/tensorflow.ts) loads `@tensorflow/tfjs-node` from ./node_modules.
# This image installs the GPU build, @tensorflow/tfjs-node-gpu, in /opt/tfjs and links it in under that name,
# so `--backend auto` picks native TensorFlow on the GPU. tfjs-node-gpu 4.22 ships libtensorflow 2.9.1, built
# for CUDA 11.2 + cuDNN 8.1: the base image must match (override CUDA_IMAGE only with a compatible one).
# OpenBLAS is installed too, so the `blas` backend works if the GPU one cannot load (no GPU, driver mismatch);
# the worker then falls back through auto's order: tensorflow > blas > wasm > cpu.
#
# Not built by CI (no docker engine there). Files are copied explicitly (no .dockerignore needed); keep the
# COPY list in step with the source tree.

ARG CUDA_IMAGE=nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04
FROM ${CUDA_IMAGE}

ARG NODE_MAJOR=20
ARG DENO_VERSION=2
ARG TFJS_VERSION=4.22.0

ENV DEBIAN_FRONTEND=noninteractive
# Node (for npm: Deno and tfjs-node-gpu come from npm), a toolchain for the native addon if no prebuilt binary
# matches, and OpenBLAS for the blas backend.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl gnupg python3 make g++ libopenblas0-pthread \
 && curl -fsSL https://deb.nodesource.com/setup_${NODE_MAJOR}.x | bash - \
 && apt-get install -y --no-install-recommends nodejs \
 && rm -rf /var/lib/apt/lists/*

# Deno from npm (the npm package carries the native deno binary).
RUN npm install -g deno@${DENO_VERSION} && deno --version

# TensorFlow for GPU, outside the project's Deno-managed node_modules; its install script downloads
# libtensorflow (GPU) and the Node-API binding.
WORKDIR /opt/tfjs
RUN npm init -y >/dev/null && npm install --omit=dev @tensorflow/tfjs-node-gpu@${TFJS_VERSION}

WORKDIR /app
COPY deno.json deno.lock main.ts mod.ts ./
COPY backends ./backends
COPY cli ./cli
COPY coordinator ./coordinator
COPY core ./core
COPY report ./report
COPY transport ./transport
COPY workers ./workers
COPY sweeps ./sweeps
# The project's npm dependencies, exactly as locked; then expose the GPU build as @tensorflow/tfjs-node.
RUN deno install \
 && mkdir -p node_modules/@tensorflow \
 && ln -sfn /opt/tfjs/node_modules/@tensorflow/tfjs-node-gpu node_modules/@tensorflow/tfjs-node \
 && deno run -A main.ts worker --help >/dev/null

# Workers need no open port: they only dial out to NATS.
ENTRYPOINT ["deno", "run", "-A", "main.ts", "worker"]
CMD ["--nats", "nats://nats:4222"]
