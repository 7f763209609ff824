"""Measured ceilings of the GPU at hand (roofline denominators), as shared/device/NOTES.md measured on the H100:
device-to-device copy (bytes read + written per second), bf16 GEMM 8192^3, fp8 e4m3 GEMM 8192^3 (row-wise scales).
torch is used only as a measuring stick here, never by the engine. Usage: python3 ceilings.py OUT.json"""
import json
import os
import sys

import torch


def timed(fn, iters=20):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(iters):
        s.record()
        fn()
        e.record()
        torch.cuda.synchronize()
        times.append(s.elapsed_time(e) / 1e3)
    times.sort()
    return times[len(times) // 2]


n = 1 << 30  # 1 GiB
a = torch.empty(n, dtype=torch.uint8, device="cuda").random_(0, 255)
b = torch.empty_like(a)
copy_s = timed(lambda: b.copy_(a))
M = 8192
x = torch.randn(M, M, device="cuda", dtype=torch.bfloat16)
w = torch.randn(M, M, device="cuda", dtype=torch.bfloat16)
bf16_s = timed(lambda: x @ w.t())
xf, wf = x.to(torch.float8_e4m3fn), w.to(torch.float8_e4m3fn)
sa = torch.ones(M, 1, device="cuda")
sw = torch.ones(1, M, device="cuda")
fp8_s = timed(lambda: torch._scaled_mm(xf, wf.t(), scale_a=sa, scale_b=sw, out_dtype=torch.bfloat16))
out = {
    "device": torch.cuda.get_device_name(),
    "copyTBs": 2 * n / copy_s / 1e12,
    "bf16Tflops": 2 * M**3 / bf16_s / 1e12,
    "fp8Tflops": 2 * M**3 / fp8_s / 1e12,
    "torch": torch.__version__,
    "commit": os.environ.get("QB_COMMIT", "unknown"),  # gpu.sh exports the staged commit
    "weights": "synthetic",  # random operands
}
print(json.dumps(out))
json.dump(out, open(sys.argv[1], "w"))
