#!/usr/bin/env python3
"""v19's P V on FP8 tensor cores (prefill_ws_fp8pv.cuh), its index bookkeeping as a model: one consumer warpgroup's
64 x 128 tile of P in the accumulator layout S comes out of wgmma in, packed by softmax_tile_fp8's formulas into A
fragments; V codes of a tile in the staging layout, transposed by transpose_v_e4m3's formulas (the permuted k order,
the 128-byte swizzle) into V^T; then wgmma m64n128k32 emulated from the PTX ISA's operand layouts (A from registers:
mma.sync m16n8k32's 8-bit A layout per warp; B K-major from the swizzled rows, k-step kk 32 bytes in) and compared
with P V computed directly. Integers stand in for the codes, so the comparison is exact. It fails (exit 1) on any
difference, and on the check that a wrong k order (no permutation in the transpose) must differ. It also counts the
shared-memory bank conflicts of the transpose's 16-byte stores (a quarter-warp per wavefront): none with the rotated
dim order, 4-way without it. A model kept beside the kernel by hand: change it with it. Run by native/test's dev_programs.test.ts; alone:
python3 native/dev/prefill_attention/fp8_pv_layout_model.py
"""
import random
import sys

BN, DH, ROWS = 128, 128, 64


def acc_coords(w, lane, n, e):
    """S's accumulator element sc[4n + e] of thread (warp w, lane): (row, column) of the 64 x 128 tile."""
    g, t = lane >> 2, lane & 3
    return 16 * w + g + 8 * (e >> 1), 8 * n + 2 * t + (e & 1)


def pack_p(P):
    """softmax_tile_fp8: pa[kk][2 hf + r] = bytes (x(n0, 2r), x(n0, 2r+1), x(n0+1, 2r), x(n0+1, 2r+1)), n0 = 4kk + 2hf."""
    regs = {}
    for w in range(4):
        for lane in range(32):
            pa = [[None] * 4 for _ in range(BN // 32)]
            for r in range(2):
                for kk in range(BN // 32):
                    for hf in range(2):
                        n0 = 4 * kk + 2 * hf
                        vals = []
                        for n, e in ((n0, 2 * r), (n0, 2 * r + 1), (n0 + 1, 2 * r), (n0 + 1, 2 * r + 1)):
                            row, col = acc_coords(w, lane, n, e)
                            vals.append(P[row][col])
                        pa[kk][2 * hf + r] = vals  # byte i = vals[i]
            regs[(w, lane)] = pa
    return regs


def a_element(regs, kk, row, k):
    """A of k-step kk at (row, k) per the 8-bit A layout: register j byte i of lane g*4+t in warp row//16 holds row
    16w + g + 8 (j & 1), k = 4t + i + 16 (j >> 1)."""
    w, rr = row // 16, row % 16
    g, hi_row = rr % 8, rr // 8
    t, i, hi_k = (k % 16) // 4, k % 4, k // 16
    j = hi_row + 2 * hi_k
    return regs[(w, g * 4 + t)][kk][j][i]


def store_dim(g, step, rotate=True):
    """The dim byte e lane g writes in step `step` (transpose_v_e4m3: rotated by g / 2)."""
    return (step + (g >> 1)) & 3 if rotate else step


def transpose_v(V, valid, permute=True):
    """transpose_v_e4m3: staging V[p][d] -> V^T bytes (128 rows of 128, swizzled); positions >= valid as zeros."""
    vt = [0] * (DH * 128)
    for it in range((DH // 4) * (BN // 16)):
        g, q16 = it & 31, it >> 5
        w = [[V[16 * q16 + i][4 * g + e] if 16 * q16 + i < valid else 0 for e in range(4)] for i in range(16)]
        for step in range(4):
            e = store_dim(g, step)
            chunk = []
            for tt in range(4):
                idx = (2 * tt, 2 * tt + 1, 2 * tt + 8, 2 * tt + 9) if permute else (4 * tt, 4 * tt + 1, 4 * tt + 2, 4 * tt + 3)
                chunk += [w[i][e] for i in idx]
            d = 4 * g + e
            base = d * 128 + ((q16 ^ (d & 7)) << 4)
            vt[base:base + 16] = chunk
    return vt


def store_conflicts(rotate):
    """The worst bank conflict of the transpose's stores: per warp step (lanes g = 0..31 of one q16), per quarter-warp,
    the most lanes whose 16-byte chunks fall on one bank."""
    worst = 0
    for q16 in range(BN // 16):
        for step in range(4):
            for quarter in range(4):
                banks = {}
                for g in range(8 * quarter, 8 * quarter + 8):
                    d = 4 * g + store_dim(g, step, rotate)
                    addr = d * 128 + ((q16 ^ (d & 7)) << 4)
                    for wd in range(4):
                        b = (addr // 4 + wd) % 32
                        banks[b] = banks.get(b, 0) + 1
                worst = max(worst, max(banks.values()))
    return worst


def b_element(vt, kk, n, k):
    """B of k-step kk at (n, k): K-major, 128-byte swizzle, the descriptor 32 kk bytes into the rows."""
    col = 32 * kk + k
    return vt[n * 128 + (((col >> 4) ^ (n & 7)) << 4) + (col & 15)]


def run(seed, valid, permute=True):
    rng = random.Random(seed)
    P = [[rng.randrange(0, 256) for _ in range(BN)] for _ in range(ROWS)]
    for r in range(ROWS):  # P is 0 past the context (the mask), V may be anything there
        for p in range(valid, BN):
            P[r][p] = 0
    V = [[rng.randrange(-448, 449) for _ in range(DH)] for _ in range(BN)]
    regs = pack_p(P)
    vt = transpose_v(V, valid, permute)
    bad = 0
    for row in range(ROWS):
        for n in range(DH):
            got = sum(a_element(regs, kk, row, k) * b_element(vt, kk, n, k) for kk in range(BN // 32) for k in range(32))
            want = sum(P[row][p] * V[p][n] for p in range(BN))
            bad += got != want
    return bad


def main():
    fails = 0
    for seed, valid in ((1, 128), (2, 77), (3, 1), (4, 16)):
        bad = run(seed, valid)
        print(f"{'PASS' if bad == 0 else 'FAIL'} v19 P V layout, {valid} valid positions: {bad} of {ROWS * DH} outputs differ")
        fails += bad != 0
    bad = run(5, 128, permute=False)  # the model must be able to fail: the k order without the permutation
    print(f"{'PASS' if bad else 'FAIL'} the unpermuted k order differs ({bad} outputs)")
    fails += bad == 0
    rot, plain = store_conflicts(True), store_conflicts(False)
    print(f"{'PASS' if rot == 1 and plain > 1 else 'FAIL'} transpose stores: {rot}-way bank conflicts (unrotated: {plain}-way)")
    fails += not (rot == 1 and plain > 1)
    sys.exit(1 if fails else 0)


if __name__ == '__main__':
    main()
