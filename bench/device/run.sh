#!/usr/bin/env bash
# Runs on the GPU machine, from the repository root, with .device/ carried
# (bench/device/README.md): unpacks Deno, puts the cut Fashion-MNIST where
# the engine looks for it, installs the Vulkan loader for WebGPU, then runs
# `deno task bench` with the given arguments through the bundled bench.
#   bash bench/device/run.sh --config examples/fashion_mnist_mlp.json --backend webgpu ...
set -euo pipefail
dev=.device
if [ ! -x /tmp/deno ]; then
  # python3 is on the GPU image; xz may not be.
  python3 -c "import lzma, shutil; shutil.copyfileobj(lzma.open('$dev/deno.xz'), open('/tmp/deno.part', 'wb'))"
  chmod +x /tmp/deno.part
  mv /tmp/deno.part /tmp/deno
fi
mkdir -p /usr/share/datasets/fashion-mnist
# Never over a full copy installed there.
for f in "$dev"/fashion-mnist/*.gz; do
  [ -e "/usr/share/datasets/fashion-mnist/${f##*/}" ] || cp "$f" /usr/share/datasets/fashion-mnist/
done
if ! ldconfig -p | grep -q libvulkan.so.1; then
  for f in "$dev"/gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
# NVIDIA's driver files live under /usr/local/nvidia on the GPU image.
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$icd" ]; then
  export VK_DRIVER_FILES="$icd"
  export LD_LIBRARY_PATH="/usr/local/nvidia/lib64:/usr/local/nvidia/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
export DENO_DIR=/tmp/deno_dir
# With no arguments it only sets up, for scripts that then start several
# benches at once.
if [ $# -eq 0 ]; then exit 0; fi
exec /tmp/deno run --allow-all "$dev/bench.js" --wasm-dir "$dev" "$@"
