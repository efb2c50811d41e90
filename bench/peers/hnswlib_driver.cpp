// Peer benchmark: hnswlib (Debian libhnswlib-dev headers) on the same .fvecs data as RecSys.VectorSearch.
// Build: g++ -O3 -march=native -std=c++17 -pthread hnswlib_driver.cpp -o hnswlib_driver
// Usage: hnswlib_driver base.fvecs query.fvecs gt.ivecs M efC threads k ef1,ef2,...
// Prints one JSON object per line: a "build" record, then one "search" record per ef.
#include <hnswlib/hnswlib.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

static std::vector<float> read_fvecs(const char* path, int& dim, size_t& n) {
    std::ifstream f(path, std::ios::binary);
    if (!f) { fprintf(stderr, "cannot open %s\n", path); exit(1); }
    f.seekg(0, std::ios::end);
    size_t bytes = f.tellg();
    f.seekg(0);
    int d = 0;
    f.read(reinterpret_cast<char*>(&d), 4);
    dim = d;
    n = bytes / (4 * (size_t)(d + 1));
    std::vector<float> out(n * d);
    f.seekg(0);
    for (size_t i = 0; i < n; i++) {
        f.read(reinterpret_cast<char*>(&d), 4);
        f.read(reinterpret_cast<char*>(out.data() + i * dim), 4 * (size_t)dim);
    }
    return out;
}

static std::vector<int> read_ivecs(const char* path, int& k, size_t& n) {
    int dim; size_t rows;
    auto f = read_fvecs(path, dim, rows);  // same layout, reinterpret
    k = dim; n = rows;
    std::vector<int> out(f.size());
    memcpy(out.data(), f.data(), f.size() * 4);
    return out;
}

static double thread_cpu_seconds() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
    if (argc < 9) { fprintf(stderr, "usage: %s base query gt M efC threads k efs\n", argv[0]); return 2; }
    int dim, qdim, gtk; size_t n, nq, ngt;
    auto base = read_fvecs(argv[1], dim, n);
    auto queries = read_fvecs(argv[2], qdim, nq);
    auto gt = read_ivecs(argv[3], gtk, ngt);
    int M = atoi(argv[4]), efC = atoi(argv[5]), threads = atoi(argv[6]), k = atoi(argv[7]);
    std::vector<int> efs;
    { std::stringstream ss(argv[8]); std::string t; while (std::getline(ss, t, ',')) efs.push_back(atoi(t.c_str())); }

    hnswlib::InnerProductSpace space(dim);
    auto* index = new hnswlib::HierarchicalNSW<float>(&space, n, M, efC, 100);
    auto t0 = std::chrono::steady_clock::now();
    index->addPoint(base.data(), 0);
    std::atomic<size_t> next(1);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; t++)
        pool.emplace_back([&] {
            for (size_t i; (i = next.fetch_add(1)) < n;) index->addPoint(base.data() + i * dim, i);
        });
    for (auto& t : pool) t.join();
    double build = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    size_t upper = 0;
    for (size_t i = 0; i < n; i++) {
        int lvl = index->element_levels_[i];
        if (lvl > 0) upper += index->size_links_per_element_ * lvl;
    }
    double bytes = (double)index->size_data_per_element_ + (double)upper / n + sizeof(void*) + sizeof(int);
    printf("{\"engine\":\"hnswlib\",\"kind\":\"build\",\"n\":%zu,\"dim\":%d,\"seconds\":%.4f,\"threads\":%d,\"bytes_per_vector\":%.1f}\n",
           n, dim, build, threads, bytes);
    fflush(stdout);

    for (int ef : efs) {
        index->setEf(ef);
        double hits = 0;
        // Warm-up pass over a few queries.
        for (size_t q = 0; q < std::min<size_t>(nq, 200); q++) index->searchKnn(queries.data() + q * dim, k);
        // Best of 3 rounds (the machine is shared), as the C# bench does.
        double wall = 1e30, cpu = 1e30;
        std::vector<std::vector<hnswlib::labeltype>> results(nq);
        std::vector<double> lat;
        for (int round = 0; round < 3; round++) {
            for (auto& r : results) r.clear();
            auto w0 = std::chrono::steady_clock::now();
            double c0 = thread_cpu_seconds();
            for (size_t q = 0; q < nq; q++) {
                auto t0 = std::chrono::steady_clock::now();
                auto r = index->searchKnn(queries.data() + q * dim, k);
                while (!r.empty()) { results[q].push_back(r.top().second); r.pop(); }
                lat.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            }
            cpu = std::min(cpu, thread_cpu_seconds() - c0);
            wall = std::min(wall, std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count());
        }
        for (size_t q = 0; q < nq; q++) {
            std::unordered_set<int> truth(gt.begin() + q * gtk, gt.begin() + q * gtk + k);
            for (auto id : results[q]) hits += truth.count((int)id);
        }
        std::nth_element(lat.begin(), lat.begin() + lat.size() / 2, lat.end());
        double median = lat[lat.size() / 2];
        printf("{\"engine\":\"hnswlib\",\"kind\":\"search\",\"ef\":%d,\"recall\":%.4f,\"qps_wall\":%.1f,\"qps_cpu\":%.1f,\"qps_median\":%.1f}\n",
               ef, hits / (nq * (double)k), nq / wall, nq / cpu, 1.0 / median);
        fflush(stdout);
    }
    delete index;
    return 0;
}
