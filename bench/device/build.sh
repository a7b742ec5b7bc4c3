#!/usr/bin/env bash
# Builds, into .device/ (git-ignored), what a machine without Deno, npm or a
# package registry needs to run `deno task bench` (bench/device/README.md):
# the bench as one bundled JS file, the wasm backend's binaries, this Deno
# binary xz-compressed, Fashion-MNIST cut to its first TRAIN_ROWS training
# samples (limits take the first samples, so runs up to that limit see the
# same data as here), and the Vulkan loader's Debian packages for WebGPU.
set -euo pipefail
cd "$(dirname "$0")/../.."
TRAIN_ROWS=${TRAIN_ROWS:-20000}
out=.device
mkdir -p "$out/fashion-mnist" "$out/gl"

# The emscripten glue of tfjs-backend-wasm reads the CommonJS __dirname,
# which an ES module bundle lacks; the backend is pointed at --wasm-dir anyway.
deno bundle --quiet --platform deno -o "$out/bench.body.js" bench/run.ts
{
  echo 'globalThis.__dirname ??= new URL(".", import.meta.url).pathname;'
  echo 'globalThis.__filename ??= new URL(import.meta.url).pathname;'
  cat "$out/bench.body.js"
} >"$out/bench.js"
rm "$out/bench.body.js"

wasm_entry=$(deno eval 'console.log(new URL("./", import.meta.resolve("@tensorflow/tfjs-backend-wasm")).pathname)')
cp "$wasm_entry"/*.wasm "$out/"

deno_bin=$(command -v deno)
stamp="$out/deno.version"
if [ ! -f "$out/deno.xz" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$(deno --version | head -n1)" ]; then
  xz -T0 -6 -c "$deno_bin" >"$out/deno.xz"
  deno --version | head -n1 >"$stamp"
fi

python3 - "$out/fashion-mnist" "$TRAIN_ROWS" <<'PY'
import gzip, struct, sys
out, rows = sys.argv[1], int(sys.argv[2])
src = "/usr/share/datasets/fashion-mnist"
for name in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]:
    data = gzip.open(f"{src}/{name}.gz").read()
    ndim = data[3]
    dims = list(struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim]))
    if name.startswith("train") and dims[0] > rows:
        item = 1
        for d in dims[1:]:
            item *= d
        dims[0] = rows
        data = data[:4] + struct.pack(f">{ndim}I", *dims) + \
            data[4 + 4 * ndim:4 + 4 * ndim + rows * item]
    with gzip.open(f"{out}/{name}.gz", "wb", compresslevel=9) as f:
        f.write(data)
PY

# Deno's WebGPU needs libvulkan.so.1; the GPU machine's image lacks it.
if ! ls "$out"/gl/libvulkan1_*.deb >/dev/null 2>&1; then
  (cd "$out/gl" && apt-get download libvulkan1 >/dev/null)
fi
du -sh "$out"
