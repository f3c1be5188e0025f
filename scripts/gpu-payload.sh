#!/usr/bin/env bash
# Builds .gpu/: what an offline Linux GPU host with only its GPU driver (no Node, no npm, no network)
# needs to run `npm run bench -- gpu` (see ../shared/gpu/README.md for what worked on an H200):
#   node.xz                Node itself
#   bench-gpu.mjs          bench/gpu.ts and everything it imports, as one file (esbuild): its fine-tune
#                          rows build the network from the bundled nsfwjs graph on random inputs, so
#                          they need no photos, no sharp and no ONNX Runtime on the host
#   torch_peer.py          the PyTorch CUDA peer, run by the bench where torch is installed on the host
#   node_modules/webgpu/   dawn.node (xz) and the package's loader
#   gl/*.deb               the Vulkan loader and GL dispatch libraries from Debian (the driver's ICD needs libglvnd)
#   run.sh                 what to run on the host: ./.gpu/run.sh [bench options]
# Needs: node, xz, apt-get (Debian/Ubuntu) and node_modules installed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.gpu
rm -rf "$out"
mkdir -p "$out/gl" "$out/node_modules/webgpu/dist/linux-x64"

echo "node $(node --version) -> $out/node.xz"
xz -T2 -6 -c "$(command -v node)" > "$out/node.xz"

echo "bundling bench/gpu.ts -> $out/bench-gpu.mjs"
# --main-fields=module,main: without it tfjs resolves to two copies of tfjs-core and the WebGPU backend
# registers into the one nobody uses. dawn.node stays outside (a native module, shipped beside).
node_modules/.bin/esbuild bench/gpu.ts --bundle --platform=node --format=esm --main-fields=module,main \
  --external:webgpu --external:onnxruntime-node --external:sharp --log-level=warning \
  "--banner:js=import{createRequire}from'module';const require=createRequire(import.meta.url);" \
  --outfile="$out/bench-gpu.mjs"
cp bench/torch_peer.py "$out/"

echo "dawn.node -> $out/node_modules/webgpu/"
cp node_modules/webgpu/index.js node_modules/webgpu/package.json "$out/node_modules/webgpu/"
xz -T2 -6 -c node_modules/webgpu/dist/linux-x64/dawn.node > "$out/node_modules/webgpu/dist/linux-x64/dawn.node.xz"

echo "Debian packages -> $out/gl/"
(cd "$out/gl" && apt-get download libvulkan1 libglvnd0 libglx0 libegl1 libgl1 libopengl0 libgles2 libx11-6 libxcb1 libxau6 libxdmcp6 libxext6 libbsd0 libmd0)

cat > "$out/run.sh" <<'RUN'
#!/usr/bin/env bash
# On the GPU host, from the folder above .gpu/: ./.gpu/run.sh [--json] [--batch N] [--reps N]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# The Vulkan loader and libglvnd (without it the NVIDIA ICD fails with "Could not get 'vkCreateInstance'").
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1' || ! ldconfig -p 2>/dev/null | grep -q 'libGLX.so.0'; then
  for deb in "$here"/gl/*.deb; do dpkg -x "$deb" /; done
  ldconfig
fi
if [ -z "${VK_ICD_FILENAMES:-}" ]; then
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$icd" ]; then export VK_ICD_FILENAMES="$icd"; break; fi
  done
fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
[ -x "$here/node" ] || { xz -dc "$here/node.xz" > "$here/node"; chmod +x "$here/node"; }
dawn="$here/node_modules/webgpu/dist/linux-x64/dawn.node"
[ -f "$dawn" ] || xz -dc "$dawn.xz" > "$dawn"
echo "VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-(loader default)}" >&2
cd "$here"
exec ./node bench-gpu.mjs "$@"
RUN
chmod +x "$out/run.sh"
du -sh "$out"
