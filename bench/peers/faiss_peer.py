#!/usr/bin/python3
"""Peer benchmark: FAISS (Debian python3-faiss) on the same .fvecs data as RecSys.VectorSearch.

Usage: faiss_peer.py base.fvecs query.fvecs gt.ivecs M efC threads k ef1,ef2,... [pq_segments] [rerank]
Prints JSON lines: HNSWFlat build + one search record per ef (one thread, only the search loop timed),
then HNSW+PQ (IndexHNSWPQ) and IVFPQ (+ exact re-rank with IndexRefineFlat) records.
"""
import json
import sys
import time

import faiss
import numpy as np


def read_fvecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    dim = raw[0]
    return raw.reshape(-1, dim + 1)[:, 1:].copy().view(np.float32)


def read_ivecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    dim = raw[0]
    return raw.reshape(-1, dim + 1)[:, 1:].copy()


def recall(ids, gt, k):
    hits = 0
    for row, truth in zip(ids, gt):
        hits += len(set(row[:k].tolist()) & set(truth[:k].tolist()))
    return hits / (len(gt) * k)


def timed_search(index, queries, k):
    faiss.omp_set_num_threads(1)
    index.search(queries[:200], k)  # warm-up
    # One query per call, as a service would issue them; best of 3 rounds (the machine is shared).
    out = np.empty((len(queries), k), dtype=np.int64)
    best_wall, best_cpu = float("inf"), float("inf")
    lat = []
    for _ in range(3):
        c0, w0 = time.thread_time(), time.perf_counter()
        for i in range(len(queries)):
            t0 = time.perf_counter()
            _, ids = index.search(queries[i:i + 1], k)
            out[i] = ids[0]
            lat.append(time.perf_counter() - t0)
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.thread_time() - c0)
    return out, len(queries) / best_wall, len(queries) / max(1e-9, best_cpu), 1.0 / float(np.median(lat))


def emit(**kw):
    print(json.dumps(kw), flush=True)


def main():
    base, queries, gt = read_fvecs(sys.argv[1]), read_fvecs(sys.argv[2]), read_ivecs(sys.argv[3])
    m, efc, threads, k = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
    efs = [int(x) for x in sys.argv[8].split(',')]
    segments = int(sys.argv[9]) if len(sys.argv) > 9 else 32
    rerank = int(sys.argv[10]) if len(sys.argv) > 10 else 100
    n, dim = base.shape

    faiss.omp_set_num_threads(threads)
    index = faiss.IndexHNSWFlat(int(dim), m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = efc
    t0 = time.perf_counter()
    index.add(base)
    emit(engine="faiss-hnswflat", kind="build", n=int(n), dim=int(dim), seconds=time.perf_counter() - t0, threads=threads)
    for ef in efs:
        index.hnsw.efSearch = ef
        ids, qw, qc, qm = timed_search(index, queries, k)
        emit(engine="faiss-hnswflat", kind="search", ef=ef, recall=recall(ids, gt, k), qps_wall=qw, qps_cpu=qc, qps_median=qm)
    del index

    # HNSW graph over PQ codes (no re-rank): FAISS's closest analogue of our Graph PQ mode.
    faiss.omp_set_num_threads(threads)
    hpq = faiss.IndexHNSWPQ(int(dim), segments, m)
    hpq.hnsw.efConstruction = efc
    t0 = time.perf_counter()
    hpq.train(base[:min(n, 20000)])  # same training sample size as our PQ
    hpq.add(base)
    emit(engine="faiss-hnswpq", kind="build", n=int(n), dim=int(dim), seconds=time.perf_counter() - t0, threads=threads,
         bytes_per_vector=segments)
    for ef in efs:
        hpq.hnsw.efSearch = ef
        ids, qw, qc, qm = timed_search(hpq, queries, k)
        emit(engine="faiss-hnswpq", kind="search", ef=ef, recall=recall(ids, gt, k), qps_wall=qw, qps_cpu=qc, qps_median=qm)
    del hpq

    # IVF-PQ with an exact re-rank of the best `rerank` candidates (IndexRefineFlat, k_factor = rerank / k).
    faiss.omp_set_num_threads(threads)
    nlist = int(4 * np.sqrt(n))
    quant = faiss.IndexFlatIP(int(dim))
    ivf = faiss.IndexIVFPQ(quant, int(dim), nlist, segments, 8, faiss.METRIC_INNER_PRODUCT)
    refine = faiss.IndexRefineFlat(ivf)  # created empty; adding to it adds to the IVF-PQ and keeps full vectors
    t0 = time.perf_counter()
    refine.train(base[:min(n, 20000)])
    refine.add(base)
    emit(engine="faiss-ivfpq", kind="build", n=int(n), dim=int(dim), seconds=time.perf_counter() - t0, threads=threads,
         bytes_per_vector=segments, nlist=nlist)
    refine.k_factor = rerank / k
    for nprobe in (8, 16, 32, 64):
        ivf.nprobe = nprobe
        ids, qw, qc, qm = timed_search(ivf, queries, k)
        emit(engine="faiss-ivfpq", kind="search", ef=nprobe, recall=recall(ids, gt, k), qps_wall=qw, qps_cpu=qc, qps_median=qm, rerank=0)
        ids, qw, qc, qm = timed_search(refine, queries, k)
        emit(engine="faiss-ivfpq", kind="search", ef=nprobe, recall=recall(ids, gt, k), qps_wall=qw, qps_cpu=qc, qps_median=qm, rerank=rerank)


if __name__ == "__main__":
    main()
