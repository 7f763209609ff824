#!/usr/bin/env python3
"""The synchronization of the warp-specialized prefill attention variants, as a model: v18 / v18p
(prefill_ws_overlap.cuh) and v16 (prefill_ws_pingpong.cuh), each as three actors (the producer and the two consumer
warpgroups) over the kernels' barriers -- named barriers by warpgroups of 128 arrivals (bar.sync blocks until the
count is met, bar.arrive does not), and the full / empty mbarriers of the stage ring with their phases -- run under
random interleavings for every tile count 1-8, both stage counts, each split of the block's tiles between the
consumers, with and without the ping-pong turns and the V-tail barrier. It fails (exit 1) on a deadlock, on an
mbarrier wait two phases behind (the kernels wait on parity, which would alias), or on a named barrier left with
arrivals at the end. A model kept beside the kernels by hand: change it with them. Run by native/test's
dev_programs.test.ts; alone: python3 native/dev/prefill_attention/sync_protocol_model.py
"""
import random
import sys

class Sim:
    """The barriers: full / empty mbarrier completions per stage, named barriers' arrivals and phases."""

    def __init__(s, S, nkv, n, pp, zero):
        s.S, s.nkv, s.n, s.pp, s.zero = S, nkv, n, pp, zero
        s.full_done = [0]*S; s.empty_cnt = [0]*S; s.empty_done = [0]*S
        s.bars = {}  # id -> arrivals in the current phase, phase number
    def bar_arrive(s, bid, cnt):
        a, ph = s.bars.get(bid, (0, 0)); a += 128
        if a == cnt: s.bars[bid] = (0, ph + 1)
        else: s.bars[bid] = (a, ph)
        return ph  # the phase this arrival belongs to
    def bar_phase(s, bid): return s.bars.get(bid, (0, 0))[1]

def producer(sim):
    """ws_produce_tma / ws_produce_ldg: tile j into stage j % S once both consumers released tile j - S."""
    for j in range(sim.nkv):
        st = j % sim.S
        if j >= sim.S:
            k = j // sim.S - 1  # wait for completion number k of empty[st]
            while sim.empty_done[st] < k + 1:
                assert sim.empty_done[st] <= k + 1
                yield 'prod wait empty'
            assert sim.empty_done[st] == k + 1, 'parity aliasing on empty'
        sim.full_done[st] += 1  # TMA lands
        yield 'prod'

def consumer(sim, c):
    """ws_consume_overlap (v18; pp: v18p): sim.n[c] tiles of its own, the block's sim.nkv waited for and released."""
    S, nkv, n, pp = sim.S, sim.nkv, sim.n[c], sim.pp
    n_other = sim.n[1 - c]
    other_reads_last = n_other == nkv
    turns_left = [nkv + 1]
    def wait_full(j):
        st, k = j % S, j // S
        while sim.full_done[st] < k + 1:
            yield f'c{c} wait full {j}'
        assert sim.full_done[st] == k + 1, f'parity aliasing on full (c{c} j{j})'
    def sync(bid, cnt):
        ph = sim.bar_arrive(bid, cnt)
        while sim.bar_phase(bid) <= ph:
            yield f'c{c} bar {bid}'
    def take():
        if pp:
            yield from sync(5 + c, 256)
    def give():
        if pp:
            turns_left[0] -= 1
            if turns_left[0] > 0 or c == 0: sim.bar_arrive(5 + (1 - c), 256)
    def release(j):
        st = j % S
        sim.empty_cnt[st] += 4
        if sim.empty_cnt[st] == 8: sim.empty_cnt[st] = 0; sim.empty_done[st] += 1
    def wait_tile(j):
        yield from wait_full(j)
        if sim.zero and j == nkv - 1:
            if other_reads_last: yield from sync(1, 256)
            else: yield from sync(2 + c, 128)
    if pp and c == 1: sim.bar_arrive(5, 256)
    if n > 0:
        yield from wait_tile(0); yield from take(); give()
        def step(j):
            yield from wait_tile(j); yield from take(); give(); release(j - 1)
        def last():
            yield from take(); give(); release(n - 1)
        j = 1
        while True:
            if j < n: yield from step(j)
            else: yield from last(); break
            if j + 1 < n: yield from step(j + 1)
            else: yield from last(); break
            j += 2
    else:
        yield from take(); give()
    for j in range(n, nkv):
        yield from wait_full(j); yield from take(); give(); release(j)
    assert turns_left[0] == 0 or not pp

def run(S, nkv, n, pp, zero, seed):
    rnd = random.Random(seed)
    sim = Sim(S, nkv, n, pp, zero)
    gens = {'p': producer(sim), 'c0': consumer(sim, 0), 'c1': consumer(sim, 1)}
    alive = dict(gens); stuck = 0
    while alive:
        name = rnd.choice(list(alive))
        try:
            next(alive[name]); stuck = stuck + 1
        except StopIteration:
            del alive[name]; stuck = 0
        if stuck > 20000: return f'deadlock: {list(alive)}'
    # everything balanced
    for st in range(S): assert sim.empty_cnt[st] == 0
    for bid, (a, ph) in sim.bars.items(): assert a == 0, f'barrier {bid} left with {a} arrivals'
    return None

bad = 0
for S in (2, 3):
    for nkv in range(1, 9):
        cases = [(nkv, nkv), (nkv, 0)] + [(x, nkv) for x in range(0, nkv)]
        for n in cases:
            for pp in (False, True):
                for zero in (False, True):
                    for seed in range(30):
                        r = run(S, nkv, list(n), pp, zero, seed)
                        if r: bad += 1; print('S', S, 'nkv', nkv, 'n', n, 'pp', pp, 'zero', zero, r); break
print('failures:', bad)

# v16 / v16b (prefill_ws_pingpong.cuh, two stages): a turn per tile for both consumers.
def consumer_v16(sim, c):
    """ws_consume_pp (v16 / v16b: where the turn is handed over does not change the counts)."""
    S, nkv, n = sim.S, sim.nkv, sim.n[c]
    other_reads_last = sim.n[1 - c] == nkv
    def sync(bid, cnt):
        ph = sim.bar_arrive(bid, cnt)
        while sim.bar_phase(bid) <= ph:
            yield f'c{c} bar {bid}'
    if c == 1: sim.bar_arrive(5, 256)
    for j in range(nkv):
        st, k = j % S, j // S
        hand_over = not (c == 1 and j == nkv - 1)
        while sim.full_done[st] < k + 1: yield 'wait full'
        assert sim.full_done[st] == k + 1
        if j < n:
            if sim.zero and j == nkv - 1:
                if other_reads_last: yield from sync(1, 256)
                else: yield from sync(2 + c, 128)
            yield from sync(5 + c, 256)
            if hand_over: sim.bar_arrive(5 + (1 - c), 256)
        else:
            yield from sync(5 + c, 256)
            if hand_over: sim.bar_arrive(5 + (1 - c), 256)
        sim.empty_cnt[st] += 4
        if sim.empty_cnt[st] == 8: sim.empty_cnt[st] = 0; sim.empty_done[st] += 1

def run16(nkv, n, zero, seed):
    rnd = random.Random(seed)
    sim = Sim(2, nkv, n, True, zero)
    alive = {'p': producer(sim), 'c0': consumer_v16(sim, 0), 'c1': consumer_v16(sim, 1)}; stuck = 0
    while alive:
        name = rnd.choice(list(alive))
        try: next(alive[name]); stuck += 1
        except StopIteration: del alive[name]; stuck = 0
        if stuck > 20000: return f'deadlock: {list(alive)}'
    for bid, (a, ph) in sim.bars.items(): assert a == 0, f'barrier {bid} left with {a} arrivals'
    return None

bad16 = 0
for nkv in range(1, 9):
    for n in [(nkv, nkv), (nkv, 0)] + [(x, nkv) for x in range(0, nkv)]:
        for zero in (False, True):
            for seed in range(30):
                r = run16(nkv, list(n), zero, seed)
                if r: bad16 += 1; print('v16 nkv', nkv, 'n', n, 'zero', zero, r); break
print('v16 failures:', bad16)
sys.exit(1 if bad or bad16 else 0)
