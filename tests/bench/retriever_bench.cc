// Retriever search benchmark (not a test): synthetic 128-d block embeddings
// written to a .npy, loaded through the serving path, searched at several
// batch sizes and k; approximate indexes report recall@100 and speed-up.
//   retriever_bench --rows N [--types flat,fp16,...] [--ks 5,100,5000]
//                   [--batches 1,16,64] [--threads T] [--blas-threads B] [--dir DIR] [--keep]
#include <omp.h>
#if defined(__x86_64__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 on _mm512_reduce_add_ps
#include <immintrin.h>
#endif
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/index/embeddings.h"
#include "common/io/npy.h"
#include "common/index/flat_scan.h"
#include "common/index/searcher.h"
#include "tests/bench/random_npy.h"

extern "C" void openblas_set_num_threads(int);

namespace {

using Clock = std::chrono::steady_clock;

std::vector<int> ParseList(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, ',');) out.push_back(std::stoi(x));
  return out;
}

std::vector<std::string> ParseNames(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, ',');) out.push_back(x);
  return out;
}

double PeakRssGb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024 / 1024;
  }
  return 0;
}

double AnonHugePagesGb() {
  std::ifstream in("/proc/self/smaps_rollup");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("AnonHugePages:", 0) == 0) return std::stod(line.substr(14)) / 1024 / 1024;
  }
  return 0;
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) float SumAvx512(const float* a, size_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = 0; i + 64 <= n; i += 64) {
    s0 = _mm512_add_ps(s0, _mm512_loadu_ps(a + i));
    s1 = _mm512_add_ps(s1, _mm512_loadu_ps(a + i + 16));
    s2 = _mm512_add_ps(s2, _mm512_loadu_ps(a + i + 32));
    s3 = _mm512_add_ps(s3, _mm512_loadu_ps(a + i + 48));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}
#endif

float Sum(const float* a, size_t n) {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) return SumAvx512(a, n);
#endif
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t i = 0; i + 4 <= n; i += 4) s0 += a[i], s1 += a[i + 1], s2 += a[i + 2], s3 += a[i + 3];
  return s0 + s1 + s2 + s3;
}

// This machine's read bandwidth now, measured the way the scan reads: one
// contiguous part per thread of a 2 GiB buffer on huge pages, summed with the
// same vector width as the scan kernel (AVX-512 float adds); best of 5.
double MeasureReadBandwidthGbs(int threads) {
  const size_t bytes = size_t{2} << 30, n = bytes / sizeof(float);
  float* p = static_cast<float*>(std::aligned_alloc(size_t{2} << 20, bytes));
  madvise(p, bytes, MADV_HUGEPAGE);
  std::memset(p, 0, bytes);
  double best = 0;
  std::vector<float> sink(threads);
  for (int rep = 0; rep < 5; ++rep) {
    auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        sink[t] = Sum(p + n / threads * t, n / threads);
      });
    }
    for (auto& t : ts) t.join();
    best = std::max(best, bytes / std::chrono::duration<double>(Clock::now() - t0).count() / 1e9);
  }
  std::free(p);
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = 1000000;
  int dim = 128, threads = 2, blas_threads = 1, queries_per_batch1 = 5;
  std::string types = "flat", ks = "5,100,5000", batches = "1,16,64", dir = "/tmp";
  bool keep = false;
  int scan_max_queries = orqa::SearcherOptions().scan_max_queries;
  for (int i = 1; i < argc; ++i) {
    std::string f = argv[i];
    auto next = [&] { return std::string(i + 1 < argc ? argv[++i] : ""); };
    if (f == "--rows") rows = std::stoll(next());
    else if (f == "--dim") dim = std::stoi(next());
    else if (f == "--types") types = next();
    else if (f == "--ks") ks = next();
    else if (f == "--batches") batches = next();
    else if (f == "--threads") threads = std::stoi(next());
    else if (f == "--blas-threads") blas_threads = std::stoi(next());
    else if (f == "--dir") dir = next();
    else if (f == "--keep") keep = true;
    else if (f == "--scan-max-queries") scan_max_queries = std::stoi(next());
    else {
      std::fprintf(stderr, "retriever_bench: error: unknown flag %s\n", f.c_str());
      return 2;
    }
  }
  openblas_set_num_threads(blas_threads);  // OpenMP and OpenBLAS pools both at 2 slow FAISS 3-4x
  const std::string path = dir + "/orqa-bench-" + std::to_string(rows) + "x" + std::to_string(dim) + ".npy";
  auto t0 = Clock::now();
  if ((!keep || std::ifstream(path).fail()) && !orqa::bench::WriteRandomNpy(path, rows, dim, 42)) {
    std::fprintf(stderr, "retriever_bench: error: cannot write %s\n", path.c_str());
    return 1;
  }
  double write_s = std::chrono::duration<double>(Clock::now() - t0).count();
  auto m = orqa::OpenEmbeddings(path);
  if (!m.ok()) {
    std::fprintf(stderr, "retriever_bench: error: %s\n", std::string(m.status().message()).c_str());
    return 1;
  }
  std::mt19937_64 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> queries(64 * dim);
  for (auto& q : queries) q = normal(rng);

  const double bandwidth = MeasureReadBandwidthGbs(threads);
  std::printf("orqa retriever benchmark: %lld x %d float32 (%.2f GB), threads: OpenMP %d, OpenBLAS %d; "
              "this machine reads %.1f GB/s with %d threads (measured now)\n",
              static_cast<long long>(rows), dim, rows * dim * 4 / 1e9, threads, blas_threads, bandwidth, threads);
  std::printf("synthetic file written in %.1f s; scan kernel: %s\n", write_s, orqa::ScanKernelName().c_str());
  std::printf("%-6s %10s %6s %6s %14s %14s %12s %8s %10s %10s\n", "index", "build_s", "batch", "k", "ms/query",
              "ms/batch", "GB/s", "% of bw", "recall@100", "speed-up");
  std::vector<std::vector<int64_t>> exact_top100;
  double exact_ms_per_query_b64 = 0;
  for (const std::string& type : ParseNames(types)) {
    orqa::SearcherOptions o;
    o.type = type;
    o.omp_threads = threads;
    o.scan_max_queries = scan_max_queries;
    auto b0 = Clock::now();
    auto searcher = orqa::MakeSearcher(*m, o);
    double build_s = std::chrono::duration<double>(Clock::now() - b0).count();
    if (!searcher.ok()) {
      std::fprintf(stderr, "retriever_bench: %s: %s\n", type.c_str(), std::string(searcher.status().message()).c_str());
      continue;
    }
    std::printf("%s: %.2f GB held, %.2f GB of this process on transparent huge pages\n", type.c_str(),
                (*searcher)->memory_bytes() / 1e9, AnonHugePagesGb());
    // recall@100 over 64 queries against exact (flat) results.
    std::vector<float> s100(64 * 100);
    std::vector<int64_t> i100(64 * 100);
    (void)(*searcher)->Search(queries.data(), 64, 100, s100.data(), i100.data());
    double recall = 1.0;
    if (type == "flat" || type == "torch") {
      exact_top100.assign(64, {});
      for (int q = 0; q < 64; ++q) exact_top100[q].assign(i100.begin() + q * 100, i100.begin() + (q + 1) * 100);
    } else if (!exact_top100.empty()) {
      double hit = 0;
      for (int q = 0; q < 64; ++q) {
        std::set<int64_t> truth(exact_top100[q].begin(), exact_top100[q].end());
        for (int j = 0; j < 100; ++j) hit += truth.count(i100[q * 100 + j]);
      }
      recall = hit / (64 * 100);
    }
    for (int k : ParseList(ks)) {
      if (k > rows) continue;
      for (int b : ParseList(batches)) {
        int reps = b == 1 ? queries_per_batch1 : 1;
        std::vector<float> sc(static_cast<size_t>(b) * k);
        std::vector<int64_t> id(static_cast<size_t>(b) * k);
        (void)(*searcher)->Search(queries.data(), b, k, sc.data(), id.data());  // warm
        auto s0 = Clock::now();
        for (int r = 0; r < reps; ++r) (void)(*searcher)->Search(queries.data() + (r % 64) * dim, b, k, sc.data(), id.data());
        double batch_ms = std::chrono::duration<double, std::milli>(Clock::now() - s0).count() / reps;
        double per_query = batch_ms / b;
        double gbs = (*searcher)->memory_bytes() / (batch_ms / 1000) / 1e9;
        if ((type == "flat") && b == 64 && k == 100) exact_ms_per_query_b64 = per_query;
        char speed[32] = "-";
        if (type != "flat" && b == 64 && k == 100 && exact_ms_per_query_b64 > 0) {
          std::snprintf(speed, sizeof(speed), "%.1fx", exact_ms_per_query_b64 / per_query);
        }
        char rec[32] = "-";
        if (k == 100 && b == 64) std::snprintf(rec, sizeof(rec), "%.3f", recall);
        std::printf("%-6s %10.1f %6d %6d %14.2f %14.2f %12.1f %7.0f%% %10s %10s\n", type.c_str(), build_s, b, k,
                    per_query, batch_ms, gbs, 100 * gbs / bandwidth, rec, speed);
        std::fflush(stdout);
      }
    }
  }
  std::printf("peak resident memory: %.2f GB\n", PeakRssGb());
  if (!keep) std::remove(path.c_str());
  return 0;
}
