#!/usr/bin/env bash
# One GPU-machine session (bench/device/README.md): writes under $OUT the
# machine's description, the ResNet convergence task on most cores, the fngd
# staleness study on MLP and ResNet (3 seeds each, one process a seed), and
# the webgpu check (sgd and fngd on the Fashion-MNIST MLP, webgpu beside
# wasm). Every part has its own time limit, so a slow part still leaves the
# others' reports. SIZE=tiny runs every part at a toy size, to try the
# script on any machine first. Results go to $OUT/results.tgz (the device
# tool brings back at most 8 files), refreshed every 30 s so that a run
# killed at its limit still returns what had finished.
set -uo pipefail
cd "$(dirname "$0")/../.."
dest=${OUT:?set OUT to the folder for results}
out=$(mktemp -d)
snapshot() {
  tar czf "$dest/results.tgz.tmp" -C "$out" . && mv "$dest/results.tgz.tmp" "$dest/results.tgz"
}
(while sleep 30; do snapshot; done) &
snapshotter=$!
size=${SIZE:-full}
limit_s=${LIMIT_S:-510}
jobs=${RESNET_JOBS:-10}
run=bench/device/run.sh

tiny=()
mlp_limit=20000
resnet_limit=2000
if [ "$size" = tiny ]; then
  tiny=(--limit 256 --epochs 1 --test-limit 64)
  mlp_limit=256
  resnet_limit=256
  jobs=2
fi

# Set up once (Deno, data, Vulkan loader), before parallel runs race for it.
bash $run
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$icd" ]; then
  export VK_DRIVER_FILES="$icd"
  export LD_LIBRARY_PATH="/usr/local/nvidia/lib64:/usr/local/nvidia/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
{
  date -u
  nproc
  grep -m1 "model name" /proc/cpuinfo
  nvidia-smi -L 2>&1 || true
  ls /usr/local/nvidia/share/vulkan/icd.d/ 2>&1 || true
  /tmp/deno eval 'const a = await navigator.gpu?.requestAdapter();
    const i = a?.info;
    console.log("webgpu adapter:", i ? [i.vendor, i.architecture, i.device, i.description].join(" | ") : a)' 2>&1 || true
} >"$out/machine.txt"

timeout "$limit_s" bash $run --suite convergence --tasks resnet --jobs "$jobs" \
  --optimizers fngd,fngd:refresh=auto,ngd,sgd,adamw,kfac,eva \
  "${tiny[@]}" --results-dir "$out" >"$out/resnet_convergence.log" 2>&1 &

stale_mlp="sgd:lr=0.05:weight_decay=0.0005,ngd:lr=0.05:weight_decay=0.0005,fngd,fngd:refresh=auto,fngd:refresh=auto:refresh_threshold=0.3,ngd:lr=0.05:weight_decay=0.0005:damping=10,fngd:damping=10,fngd:refresh=auto:damping=10"
stale_resnet="sgd:weight_decay=0.0005,ngd:weight_decay=0.0005,fngd,fngd:refresh=auto,fngd:refresh=auto:refresh_threshold=0.3"
# One seed of a staleness study, in the background: name, config, optimizers, limit.
stale() {
  timeout "$limit_s" bash $run --config "$2" --optimizers "$3" --limit "$4" \
    --epochs 3 --rounds 1 --profile never --seed "$seed" "${tiny[@]}" \
    --out "$out/stale_$1_$seed.md" >"$out/stale_$1_$seed.log" 2>&1 &
}
for seed in 42 43 44; do
  stale resnet examples/resnet_fashion_mnist.json "$stale_resnet" "$resnet_limit"
done
# The MLP study is short; its three cores then run the webgpu check.
mlp=()
for seed in 42 43 44; do
  stale mlp examples/fashion_mnist_mlp.json "$stale_mlp" "$mlp_limit"
  mlp+=($!)
done
wait "${mlp[@]}"
for backend in webgpu wasm; do
  timeout 150 bash $run --config examples/fashion_mnist_mlp.json --backend $backend \
    --optimizers sgd,fngd --limit "$mlp_limit" --epochs 2 --rounds 1 --profile never \
    "${tiny[@]}" --out "$out/gpu_mlp_$backend.md" >"$out/gpu_mlp_$backend.log" 2>&1
done
kill "$snapshotter"
wait
ls -la "$out"
snapshot
