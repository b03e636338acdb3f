#!/usr/bin/env python3
"""fuzz/gen_corpus.py - write the seed corpus fuzz/corpus/ (deterministic).

Each seed is a header (kind, flags, size hint, thresholds, max_work; see
fuzz_map.c) and a list of (op, key, arg) triples. The seeds cover every map
kind, every operation, resize/migrate_step sequences, tiny tables with
max_work 1, colliding node hashes and each failure-injection mode.
"""
import os, random

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

def seed(name, hdr, ops):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(bytes(hdr))
        for op, k, a in ops:
            f.write(bytes([op & 255, k & 255, a & 255]))

def fill(n, first=0):  # puts of n keys
    return [(2, first + i, i * 13 + 1) for i in range(n)]

def mixed(rng, n, ops=range(16)):
    ops = list(ops)
    return [(rng.choice(ops) | (rng.randrange(16) << 4), rng.randrange(64), rng.randrange(256))
            for _ in range(n)]

rng = random.Random(6)
rrng = random.Random(66)  # reseed seeds: their own stream, the older seeds stay as they were
for kind, kname in ((0, "word"), (1, "node"), (2, "str")):
    # basic lifecycle: fill, read, remove half, compact
    seed(f"{kname}-basic", [kind, 0, 0, 0, 0],
         fill(40) + [(0, i, 0) for i in range(40)] + [(4, i, 0) for i in range(0, 40, 2)]
         + [(9, 0, 2), (10, 0, 0), (8, 0, 0)])
    # tiny table, max_work 1, explicit resizes and single migration steps
    seed(f"{kname}-resize-steps", [kind, 0x0c, 1, 0, 0],
         fill(20) + [(9, 0, 0), (10, 0, 1), (2, 30, 5), (10, 0, 1), (4, 3, 0), (10, 0, 1),
                     (9, 0, 1), (11, 0, 0), (9, 0, 1), (10, 0, 1), (1, 31, 9), (10, 0, 0),
                     (9, 0, 2), (10, 0, 1), (3, 5, 77), (10, 0, 0), (8, 0, 0)])
    # every failure-injection mode while growing
    seed(f"{kname}-oom-nth", [kind, 0, 0, 0, 0],
         [(12, 0, 0)] + fill(30) + [(12, 0, 4)] + fill(30, 30) + [(12, 0, 3), (10, 0, 0)])
    seed(f"{kname}-oom-window", [kind, 0, 1, 0, 0],
         fill(10) + [(12, 0, 1 + 4 * 20)] + fill(40, 10) + [(9, 0, 0), (10, 0, 0), (12, 0, 3)]
         + fill(10, 50))
    seed(f"{kname}-oom-prob", [kind, 0, 0, 0, 0],
         [(12, 0, 2 + 4 * 20)] + mixed(rng, 200) + [(12, 0, 3), (10, 0, 0), (8, 0, 0)])
    # random mixes, with the background worker on and grow/shrink knobs
    seed(f"{kname}-mixed", [kind, 0x10, 3, 0x81, 0], mixed(rng, 300, [o for o in range(16) if o != 12]))
    seed(f"{kname}-mixed-bg-grow100", [kind, 0x1c, 2, 0x87, 1], mixed(rng, 300))
    # reseeds (op 9, arg 3): explicit, single steps in between, updates and
    # removes while held mid-reseed (tiny table, max_work 1, no background)
    seed(f"{kname}-reseed-steps", [kind, 0x0c, 1, 0, 0],
         fill(24) + [(9, 0, 3), (10, 0, 1), (8, 0, 0), (2, 3, 9), (4, 5, 0), (10, 0, 1),
                     (8, 0, 0), (1, 40, 7), (6, 7, 1), (10, 0, 1), (8, 0, 0), (10, 0, 0),
                     (11, 0, 0), (9, 0, 3), (10, 0, 2), (4, 8, 0), (2, 8, 1), (10, 0, 0),
                     (8, 0, 0)])
    seed(f"{kname}-reseed-mixed", [kind, 0x0c, 2, 0, 1],
         fill(30) + [(9, 0, 3)] + mixed(rrng, 200, [o for o in range(16) if o != 12])
         + [(11, 0, 0), (9, 0, 3)] + mixed(rrng, 100, [o for o in range(16) if o != 12]))
# node map with colliding hashes (constant, key % 4)
seed("node-const-hash", [1, 1, 0, 0, 0], fill(64) + mixed(rng, 200))
seed("node-mod4-hash", [1, 2, 0, 0, 0], fill(64) + mixed(rng, 200))
seed("node-const-hash-reseed", [1, 0x0d, 1, 0, 0], fill(40) + [(9, 0, 3), (10, 0, 1), (8, 0, 0),
     (4, 3, 0), (10, 0, 1), (2, 3, 4), (10, 0, 0), (8, 0, 0)])
# invalid configurations and absurd size hints
seed("bad-thresholds", [0, 0, 0, 0x83, 0], fill(3))
seed("bad-max-work", [2, 0, 0, 0, 15], fill(3))
seed("huge-hint", [1, 0, 6, 0, 0], fill(3))
seed("absurd-hint", [2, 0, 7, 0, 0], fill(3))
