#!/bin/bash
# Device run 2 of 2: the runtime's CUDA path and bench:inference on the H200 (libraries unpacked by run 1 into /tmp/gpu/lib).
G=$PWD/.gpu2
unxz() { python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$1" "$2"; }
ls /tmp/gpu/lib/libonnxruntime_providers_cuda.so || { echo "run 1's libraries are gone"; exit 3; }
mkdir -p /tmp/gpu/bin && unxz $G/node.xz /tmp/gpu/bin/node && unxz $G/ffmpeg.xz /tmp/gpu/bin/ffmpeg && chmod +x /tmp/gpu/bin/*
X=$G/root/node_modules/onnxruntime-node/bin/napi-v6/linux/x64
cp /tmp/gpu/lib/* $X/
export PATH=/tmp/gpu/bin:$PATH T2V_FFMPEG_PATH=/tmp/gpu/bin/ffmpeg
export LD_LIBRARY_PATH=$(cat /tmp/gpu/libdirs):$LD_LIBRARY_PATH
node --version; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; nproc
cd $G/root
B=inference-image/scripts/bench.mjs
timeout 170 node $B --skip-build --provider cuda 2>&1 | tee $OUT/cuda-default.txt | grep -v '^{' 
timeout 120 node $B --skip-build --provider cuda --hidden 512 --size 512 --requests 4 --jobs 4 --cold-starts 1 2>&1 | tee $OUT/cuda-large.txt | grep -v '^{'
timeout 120 node $B --skip-build --provider cpu --requests 4 --jobs 4 --cold-starts 1 2>&1 | tee $OUT/cpu-default.txt | grep -v '^{'
timeout 80 node $B --skip-build --provider cpu --hidden 512 --size 512 --requests 2 --jobs 2 --cold-starts 1 2>&1 | tee $OUT/cpu-large.txt | grep -v '^{'
echo done
