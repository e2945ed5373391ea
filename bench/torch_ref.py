"""PyTorch reference for `deno task bench`: the same G, D, channel ops and
training step as lib/ (conv -> batch norm with batch statistics -> swish
blocks; channel = static noise, 7x7 Gaussian blur, one bilinear resample for
resize + translate + rotate, GlyphNet's extras), timed the same way.

    /usr/bin/python3 bench/torch_ref.py --config tiny --steps 20 --threads 1 --json
    python3 bench/torch_ref.py --config default --device cuda --json   # on a GPU

Prints one JSON object (same keys as bench.ts --json) with --json, else a line.
"""
import argparse
import json
import math
import os
import platform
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {
    "tiny": dict(symbols=26, size=16, channels=1, filters=8, batch=32, steps=100, warmup=20),
    "small": dict(symbols=64, size=32, channels=3, filters=8, batch=64, steps=60, warmup=10),
    "default": dict(symbols=128, size=64, channels=3, filters=16, batch=128, steps=8, warmup=3),
}
# lib/channel/tables.ts, levels 0..15.
STATIC = [0, .02, .04, .06, .08, .10, .13, .16, .18, .20, .21, .22, .23, .24, .25, .26]
BLUR = [.01, .3, .6, .8, .9, 1, 1.25, 1.5, 1.75, 2, 2.03, 2.07, 2.1, 2.13, 2.17, 2.2]
RESIZE = [(1, 1), (.9, 1.1), (.85, 1.15), (.8, 1.2), (.75, 1.25), (.7, 1.3), (.675, 1.325),
          (.65, 1.35), (.625, 1.375), (.6, 1.4), (.567, 1.417), (.533, 1.433), (.5, 1.45),
          (.467, 1.467), (.433, 1.483), (.4, 1.5)]
TRANSLATE = [0, .025, .05, .07, .09, .1, .11, .12, .13, .14, .15, .16, .17, .18, .19, .2]
ROTATE = [0, 6, 12, 18, 24, 30, 36, 42, 48, 54, 57, 60, 63, 66, 69, 72]


class Block(nn.Module):
    """conv (or stride-2 transposed conv) -> BN (batch statistics, Keras eps) -> activation."""

    def __init__(self, cin, cout, k, stride=1, transpose=False, act="swish"):
        super().__init__()
        if transpose:  # tf "same" stride-2 transposed 3x3: output exactly 2H x 2W
            self.conv = nn.ConvTranspose2d(cin, cout, k, 2, padding=1, output_padding=1)
        else:
            self.conv = nn.Conv2d(cin, cout, k, stride, padding=k // 2)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01)
        self.act = F.silu if act == "swish" else torch.sigmoid

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Generator(nn.Module):
    def __init__(self, v, size, channels, filters):
        super().__init__()
        r = int(math.log2(size))
        f = filters * 2 ** r
        self.stem = Block(v, f, 1)
        self.ups = nn.ModuleList()
        for _ in range(r):
            self.ups.append(nn.ModuleList([Block(f, f // 2, 3, transpose=True), Block(f // 2, f // 2, 1)]))
            f //= 2
        self.head = Block(f, channels, 3, act="sigmoid")

    def forward(self, m):
        x = self.stem(m[:, :, None, None])
        for deconv, conv in self.ups:
            pre = deconv(x)
            x = pre + conv(pre)
        return self.head(x)


class Discriminator(nn.Module):
    def __init__(self, v, size, channels, filters):
        super().__init__()
        r = int(math.log2(size))
        f = 2 * filters
        self.stem = Block(channels, f, 3)
        ch = f
        self.downs = nn.ModuleList()
        for _ in range(r):
            self.downs.append(nn.ModuleList([Block(ch, f, 3, stride=2), Block(f, f, 1)]))
            ch, f = f, f * 2
        self.dense = nn.Linear(ch, v + 1)

    def forward(self, x):
        x = self.stem(x)
        for conv, conv1 in self.downs:
            pre = conv(x)
            x = pre + conv1(pre)
        return self.dense(x.mean(dim=(2, 3)))


def gaussian_taps(sigma, device):
    i = torch.arange(7, dtype=torch.float32, device=device) - 3
    t = torch.exp(-i * i / (2 * sigma * sigma))
    return t / t.sum()


def channel(x, level, gen):
    """The channel at `level` with per-sample draws (NCHW, values in [0, 1])."""
    if level == 0:  # every op is the identity at level 0, as in lib/channel
        return x
    b, c, h, w = x.shape
    dev = x.device
    u = lambda *shape: torch.rand(*shape, generator=gen, device=dev)
    if STATIC[level] > 0:
        x = x + STATIC[level] * torch.randn(x.shape, generator=gen, device=dev)
    taps = gaussian_taps(BLUR[level], dev)
    planes = x.reshape(b * c, 1, h, w)
    planes = F.conv2d(planes, taps.view(1, 1, 7, 1), padding=(3, 0))
    x = F.conv2d(planes, taps.view(1, 1, 1, 7), padding=(0, 3)).reshape(b, c, h, w)
    # resize, translate, rotate fused into one bilinear resample, as lib/ does
    lo, hi = RESIZE[level]
    sx, sy = lo + (hi - lo) * u(b), lo + (hi - lo) * u(b)
    shift = TRANSLATE[level] * 2
    dx, dy = shift * (2 * u(b) - 1), shift * (2 * u(b) - 1)
    ang = math.radians(ROTATE[level]) * (2 * u(b) - 1)
    cos, sin = torch.cos(ang), torch.sin(ang)
    theta = torch.stack([torch.stack([cos / sx, sin / sx, dx], 1),
                         torch.stack([-sin / sy, cos / sy, dy], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # Extras: random normalised 3x3 kernel mixed into identity, hard sigmoid, inversion.
    alpha = 0.6 * level / 15 * u(b)
    k = u(b, 9)
    k = alpha[:, None] * k / k.sum(1, keepdim=True)
    k[:, 4] += 1 - alpha
    padded = F.pad(x, (1, 1, 1, 1))
    x = sum(padded[:, :, i // 3:i // 3 + h, i % 3:i % 3 + w] * k[:, i, None, None, None]
            for i in range(9))
    slope = (1 + (0.2 * level) * u(b))[:, None, None, None]
    x = torch.clamp((x - 0.5) * slope + 0.5, 0, 1)
    if c == 1:
        flip = (u(b) < 0.5 * level / 15).float()[:, None, None, None]
        x = x * (1 - 2 * flip) + flip
    return x


def step(s, i):
    """One GlyphNet step: D on glyphs, D on negatives, G through channel and D."""
    cfg, dev, gen = s["cfg"], s["device"], s["gen"]
    b, v = cfg["batch"], cfg["symbols"]
    labels = lambda: torch.randint(0, v, (b,), generator=gen, device=dev)
    onehot = lambda y: F.one_hot(y, v).float()
    real = labels()
    with torch.no_grad():
        glyphs = channel(s["g"](onehot(real)), s["level"], gen)
    s["dopt"].zero_grad(set_to_none=True)
    d_real = F.cross_entropy(s["d"](glyphs), real)
    d_real.backward()
    s["dopt"].step()
    with torch.no_grad():
        if i % 2 == 0:
            images = s["rg"](onehot(labels()))
        else:
            images = torch.sigmoid(torch.randn((b, cfg["channels"], cfg["size"], cfg["size"]),
                                               generator=gen, device=dev))
        negatives = channel(images, s["level"], gen)
    s["dopt"].zero_grad(set_to_none=True)
    d_fake = F.cross_entropy(s["d"](negatives), torch.full((b,), v, device=dev))
    d_fake.backward()
    s["dopt"].step()
    coop = labels()
    s["d"].requires_grad_(False)  # G's step: no weight gradients for D, as in lib/train/step.ts
    s["gopt"].zero_grad(set_to_none=True)
    g_loss = F.cross_entropy(s["d"](channel(s["g"](onehot(coop)), s["level"], gen)), coop)
    g_loss.backward()
    s["gopt"].step()
    s["d"].requires_grad_(True)
    return [d_real.item(), d_fake.item(), g_loss.item()]


def forward_macs(v, size, channels, filters):
    """Same count as forwardMacs in bench.ts: [G, D] multiply-adds per sample."""
    r = int(math.log2(size))
    f = filters * 2 ** r
    g, s = v * f, 1
    for _ in range(r):
        g += s * s * 9 * f * (f // 2) + (2 * s) ** 2 * (f // 2) ** 2
        f //= 2
        s *= 2
    g += size * size * 9 * f * channels
    ch = 2 * filters
    d, s, out = size * size * 9 * channels * ch, size // 2, ch
    for _ in range(r):
        d += s * s * 9 * ch * out + s * s * out * out
        ch, s, out = out, s // 2, out * 2
    return g, d + ch * (v + 1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", choices=CONFIGS, default="tiny")
    p.add_argument("--steps", type=int)
    p.add_argument("--budget", type=float, default=float("inf"),
                   help="stop once this many seconds are spent and an even count >= 4 is measured")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--level", type=int, default=5)
    p.add_argument("--batch", type=int)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--tf32", action="store_true",
                   help="cuda: let matmuls and convolutions use TF32 (default: strict fp32, as WebGPU)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    cfg = dict(CONFIGS[a.config])
    if a.batch:
        cfg["batch"] = a.batch
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    dev = torch.device(a.device)
    if dev.type == "cuda":
        # PyTorch lets cuDNN convolutions use TF32 by default; WebGPU computes in fp32.
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
        torch.backends.cudnn.allow_tf32 = a.tf32
    args = (cfg["symbols"], cfg["size"], cfg["channels"], cfg["filters"])
    g, d, rg = Generator(*args).to(dev), Discriminator(*args).to(dev), Generator(*args).to(dev)
    adam = dict(lr=2.5e-4, betas=(0.5, 0.999), eps=1e-7)
    gen = torch.Generator(device=dev)
    gen.manual_seed(1)
    s = dict(cfg=cfg, device=dev, gen=gen, g=g, d=d, rg=rg, level=min(a.level, 15),
             gopt=torch.optim.Adam(g.parameters(), **adam), dopt=torch.optim.Adam(d.parameters(), **adam))
    warmup = cfg["warmup"]
    steps = a.steps or cfg["steps"]
    times, first, cpu = [], None, 0.0
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    began = time.perf_counter()
    for i in range(warmup + steps):
        if len(times) >= 4 and len(times) % 2 == 0 and time.perf_counter() - began > a.budget:
            break  # as many steps of the two kinds that alternate, as bench/_measure.ts does
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        losses = step(s, i)  # .item() waits for the losses; synchronize for everything else
        sync()
        dt = time.perf_counter() - t0
        first = first or losses
        if i >= warmup:
            times.append(dt)
            cpu += time.process_time() - c0
    gm, dm = forward_macs(*args)
    flop = 2 * cfg["batch"] * (4.5 * gm + 8 * dm)
    med = statistics.median(times)
    result = dict(
        config=a.config, backend="pytorch",
        device=(torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "CPU")
        + f" (PyTorch {torch.__version__})",
        threads=torch.get_num_threads(), fallback=False, batch=cfg["batch"], level=s["level"],
        warmup=warmup, steps=len(times), step_seconds_median=med, step_seconds=times,
        cpu_seconds_per_step=cpu / len(times), loadavg=os.getloadavg()[0],
        peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        gflop_per_step=flop / 1e9, gflops=flop / 1e9 / med, first_losses=first,
    )
    if dev.type == "cuda":
        result["peak_gpu_bytes"] = torch.cuda.max_memory_allocated(dev)
        result["tf32"] = a.tf32
    if a.json:
        print(json.dumps(result))
    else:
        print(f"{a.config} pytorch/{a.device}: {med:.4f} s/step median of {len(times)}, "
              f"{result['gflops']:.2f} GFLOP/s, peak RSS {result['peak_rss_bytes'] / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
