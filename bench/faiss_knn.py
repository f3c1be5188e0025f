"""FAISS IndexFlatL2, the peer in the knn bench: same vectors and queries, one query at a time.

usage: faiss_knn.py BASE.f32 QUERIES.f32 DIM K OUT.i64   (prints {"latencies_ms": [...]} on stdout)
"""
import json
import sys
import time

import faiss
import numpy as np

base_path, queries_path, dim, k, out_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
base = np.fromfile(base_path, dtype=np.float32).reshape(-1, dim)
queries = np.fromfile(queries_path, dtype=np.float32).reshape(-1, dim)
index = faiss.IndexFlatL2(dim)
index.add(base)
latencies = []
results = np.zeros((len(queries), k), dtype=np.int64)
for i, query in enumerate(queries):
    started = time.perf_counter()
    _, ids = index.search(query.reshape(1, dim), k)
    latencies.append((time.perf_counter() - started) * 1000)
    results[i] = ids[0]
results.tofile(out_path)
print(json.dumps({"latencies_ms": latencies, "threads": faiss.omp_get_max_threads()}))
