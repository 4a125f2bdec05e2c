#!/bin/bash
# Prepares the two carries of a device run of bench:inference on the CUDA execution provider
# (docs/benchmarks/inference-h200.md). Run from the repo root; needs pip access to PyPI and xz.
#   .gpu1/ (run 1, ~61 MiB): the CUDA 13 provider of onnxruntime-gpu (same version as onnxruntime-node),
#          pruned to sm_90, and onnxruntime-node's libonnxruntime.so.1, xz-compressed.
#   .gpu2/ (run 2, ~45 MiB): node, a static ffmpeg (imageio-ffmpeg wheel), the runtime and the bench
#          bundled by esbuild, onnxruntime-node's JS and binding, and run-bench.sh.
# The two are split because a run carries at most 64 MiB; run 2 must follow run 1 while the machine is warm.
set -euo pipefail
ORT=$(node -p "require('./inference-image/package.json').dependencies['onnxruntime-node']")
W=${TMPDIR:-/tmp}/modelrollout-device; mkdir -p "$W"
grep -qx '/.gpu1/' .git/info/exclude || printf '/.gpu1/\n/.gpu2/\n' >> .git/info/exclude
rm -rf .gpu1 .gpu2; mkdir -p .gpu1 .gpu2/root/inference-image/dist .gpu2/root/inference-image/scripts .gpu2/root/node_modules
[ -f "$W/ort.whl" ] || { python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 "onnxruntime-gpu==$ORT" -d "$W/whl" && mv "$W"/whl/*.whl "$W/ort.whl"; }
[ -f "$W/ff.whl" ] || { python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux2014_x86_64 imageio-ffmpeg -d "$W/whl" && mv "$W"/whl/imageio_ffmpeg*.whl "$W/ff.whl"; }
rm -rf "$W/x"; unzip -q -o "$W/ort.whl" 'onnxruntime/capi/libonnxruntime_providers_*' -d "$W/x"
python3 hack/device/prune-fatbin.py "$W/x/onnxruntime/capi/libonnxruntime_providers_cuda.so" "$W/cuda-sm90.so" 90
xz -T0 -6 -c "$W/cuda-sm90.so" > .gpu1/cuda-sm90.so.xz
cp "$W/x/onnxruntime/capi/libonnxruntime_providers_shared.so" .gpu1/
xz -T0 -6 -c node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1 > .gpu1/ortlib.xz
xz -T0 -6 -c "$(command -v node)" > .gpu2/node.xz
unzip -q -o -j "$W/ff.whl" 'imageio_ffmpeg/binaries/ffmpeg-linux-*' -d "$W/ff"; xz -T0 -6 -c "$W"/ff/ffmpeg-linux-* > .gpu2/ffmpeg.xz
bundle() { node_modules/.bin/esbuild "$1" --bundle --platform=node --format=esm --target=node20 --external:onnxruntime-node '--banner:js=import{createRequire as __cr}from"module";const require=__cr(import.meta.url);' --outfile="$2" --log-level=warning; }
bundle inference-image/src/main.ts .gpu2/root/inference-image/dist/main.js
bundle inference-image/scripts/bench.ts .gpu2/root/inference-image/scripts/bench.mjs
cp -r node_modules/onnxruntime-common .gpu2/root/node_modules/
X=.gpu2/root/node_modules/onnxruntime-node; mkdir -p $X/bin/napi-v6/linux/x64
cp -r node_modules/onnxruntime-node/{package.json,dist,lib} $X/; cp node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node $X/bin/napi-v6/linux/x64/
cp hack/device/run-bench.sh .gpu2/run.sh
du -sh .gpu1 .gpu2
cat <<'MSG'
Run 1 (carry [".gpu1"]): unpack to /tmp/gpu/lib and find the CUDA 13 library folders:
  mkdir -p /tmp/gpu/lib && U() { python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$1" "$2"; } && U .gpu1/cuda-sm90.so.xz /tmp/gpu/lib/libonnxruntime_providers_cuda.so && U .gpu1/ortlib.xz /tmp/gpu/lib/libonnxruntime.so.1 && cp .gpu1/libonnxruntime_providers_shared.so /tmp/gpu/lib/ && find /opt/torch/.venv /usr/local/cuda* \( -name 'libcublas.so.13*' -o -name 'libcublasLt.so.13*' -o -name 'libcudnn.so.9*' -o -name 'libcurand.so.10*' -o -name 'libcudart.so.13*' -o -name 'libcufft.so.12*' \) 2>/dev/null | xargs -n1 dirname | sort -u | paste -sd: > /tmp/gpu/libdirs
Run 2 at once (carry [".gpu2"]): bash .gpu2/run.sh
MSG
