"""FAISS peers of the knn bench: IndexFlatL2 (exact) and IndexHNSWFlat (M=32), same vectors and queries, one query at a time.

usage: faiss_knn.py BASE.f32 QUERIES.f32 DIM K OUT_PREFIX [TARGET_RECALL [HNSW: 1 or 0]]
Writes OUT_PREFIX.flat.i64 and OUT_PREFIX.hnsw.i64 (the ids found) and prints on stdout
{"flat": {...}, "hnsw": {...}}, each with latencies_ms, build_s and rss_delta_mb (resident memory the
index added). HNSW's efSearch is the smallest of EF_SEARCH whose recall@K against the flat answer
on these queries reaches TARGET_RECALL (default 0.95), else the largest. HNSW 0 builds only the flat index.
"""
import json
import os
import sys
import time

import faiss
import numpy as np

EF_SEARCH = [16, 32, 64, 128, 256, 512, 1024]
HNSW_M = 32


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def timed_search(index, queries, k):
    latencies = []
    results = np.zeros((len(queries), k), dtype=np.int64)
    for i, query in enumerate(queries):
        started = time.perf_counter()
        _, ids = index.search(query.reshape(1, -1), k)
        latencies.append((time.perf_counter() - started) * 1000)
        results[i] = ids[0]
    return latencies, results


def recall(found, truth):
    return sum(len(set(f) & set(t)) for f, t in zip(found.tolist(), truth.tolist())) / truth.size


def build(index, base):
    before = rss_mb()
    started = time.perf_counter()
    index.add(base)
    return time.perf_counter() - started, rss_mb() - before


base_path, queries_path, dim, k, out_prefix = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
target = float(sys.argv[6]) if len(sys.argv) > 6 else 0.95
with_hnsw = sys.argv[7] != "0" if len(sys.argv) > 7 else True
base = np.fromfile(base_path, dtype=np.float32).reshape(-1, dim)
queries = np.fromfile(queries_path, dtype=np.float32).reshape(-1, dim)
report = {"threads": faiss.omp_get_max_threads()}

flat = faiss.IndexFlatL2(dim)
build_s, rss_delta = build(flat, base)
latencies, truth = timed_search(flat, queries, k)
truth.tofile(f"{out_prefix}.flat.i64")
report["flat"] = {"latencies_ms": latencies, "build_s": build_s, "rss_delta_mb": rss_delta}
del flat

if with_hnsw:
    hnsw = faiss.IndexHNSWFlat(dim, HNSW_M)
    build_s, rss_delta = build(hnsw, base)
    for ef in EF_SEARCH:
        hnsw.hnsw.efSearch = ef
        latencies, found = timed_search(hnsw, queries, k)
        if recall(found, truth) >= target:
            break
    found.tofile(f"{out_prefix}.hnsw.i64")
    report["hnsw"] = {"latencies_ms": latencies, "build_s": build_s, "rss_delta_mb": rss_delta, "ef_search": ef, "m": HNSW_M}
print(json.dumps(report))
