"""PyTorch CUDA as the peer of bench/gpu.ts: the same measurements on the same GPU.

Prints one JSON object as the last line: {"rows": [...]} with rows named as bench/gpu.ts names its own,
or {"skipped": "<reason>"} where torch or CUDA is missing.
  --batch N  images per op (default 96)    --tiny  the sizes bench/gpu.ts uses on a software adapter
"""
import json
import sys
import time


def main():
    try:
        import torch
    except ImportError as error:
        return {"skipped": f"PyTorch is not installed ({error})"}
    if not torch.cuda.is_available():
        return {"skipped": f"PyTorch {torch.__version__} has no CUDA device here"}
    import torch.nn as nn
    import torch.nn.functional as F

    tiny = "--tiny" in sys.argv
    batch = 2 if tiny else int(sys.argv[sys.argv.index("--batch") + 1]) if "--batch" in sys.argv else 96
    reps = 2 if tiny else 10
    dev = "cuda"
    name = torch.cuda.get_device_name(0)
    rows = []

    def timed(f):
        f()
        torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(reps):
            f()
        torch.cuda.synchronize()
        return (time.perf_counter() - started) / reps * 1000

    n = 256 if tiny else 4096
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    ms = timed(lambda: a @ b)
    rows.append({"row": f"matMul {n}x{n}", "peer": "pytorch", "device": name, "ms": round(ms, 3), "tflops": round(2 * n**3 / ms / 1e9, 3)})

    stages = [(112, 48, 48, 24), (56, 192, 192, 32), (28, 288, 288, 48), (14, 528, 528, 88), (7, 1344, 1344, 224), (7, 448, 448, 1792)]
    for size, dw_channels, pw_in, pw_out in stages:
        h = max(4, size // 8) if tiny else size
        x = torch.randn(batch, dw_channels, h, h, device=dev).contiguous(memory_format=torch.channels_last).requires_grad_()
        w = (torch.randn(dw_channels, 1, 3, 3, device=dev) * 0.2).requires_grad_()
        dy = torch.randn(batch, dw_channels, h, h, device=dev).contiguous(memory_format=torch.channels_last)
        conv = lambda: F.conv2d(x, w, padding=1, groups=dw_channels)
        rows.append({
            "row": f"depthwise 3x3 {batch}x{h}x{h}x{dw_channels}", "peer": "pytorch",
            "forward_ms": round(timed(lambda: conv().detach()), 3),
            "input_grad_ms": round(timed(lambda: torch.autograd.grad(conv(), x, dy)), 3),
            "filter_grad_ms": round(timed(lambda: torch.autograd.grad(conv(), w, dy)), 3),
        })
        x = torch.randn(batch, pw_in, h, h, device=dev).contiguous(memory_format=torch.channels_last).requires_grad_()
        w = (torch.randn(pw_out, pw_in, 1, 1, device=dev) * 0.1).requires_grad_()
        dy = torch.randn(batch, pw_out, h, h, device=dev).contiguous(memory_format=torch.channels_last)
        conv = lambda: F.conv2d(x, w)
        rows.append({
            "row": f"1x1 conv {batch}x{h}x{h}x{pw_in}->{pw_out}", "peer": "pytorch",
            "forward_ms": round(timed(lambda: conv().detach()), 3),
            "input_grad_ms": round(timed(lambda: torch.autograd.grad(conv(), x, dy)), 3),
            "filter_grad_ms": round(timed(lambda: torch.autograd.grad(conv(), w, dy)), 3),
        })

    try:
        import torchvision
    except ImportError as error:
        rows.append({"row": "backbone inference", "peer": "pytorch", "skipped": f"torchvision is not installed ({error})"})
        return {"rows": rows}

    def mobilenet():
        m = torchvision.models.mobilenet_v2(width_mult=1.4)
        net = nn.Sequential(m.features, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1792, 128))
        return net.to(dev).to(memory_format=torch.channels_last)

    net = mobilenet().eval()
    for b in [2] if tiny else [32, 128]:
        x = torch.rand(b, 3, 224, 224, device=dev).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            ms = timed(lambda: net[:3](x))
        rows.append({"row": f"backbone inference, batch {b}", "peer": "pytorch", "runtime": "MobileNetV2-1.4 (torchvision, random init)", "ms": round(ms, 1), "images_per_s": round(b / ms * 1000, 1)})

    triplets = 2 if tiny else 32
    net = mobilenet().train()
    opt = torch.optim.Adam(net.parameters(), 1e-4)
    x = torch.rand(3 * triplets, 3, 224, 224, device=dev).contiguous(memory_format=torch.channels_last)

    def step():
        e = F.normalize(net(x), dim=1)
        q, p, ng = e.chunk(3)
        loss = F.relu(1.0 + (q - p).norm(dim=1) - (q - ng).norm(dim=1)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    ms = timed(step)
    rows.append({"row": "fine-tune full", "peer": "pytorch", "batch_triplets": triplets, "ms": round(ms, 1), "triplets_per_s": round(triplets / ms * 1000, 1)})
    return {"rows": rows}


if __name__ == "__main__":
    print(json.dumps(main()))
