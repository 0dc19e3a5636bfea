#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include <unistd.h>

namespace orqa::cli {

/// A progress line on stderr: count, percentage, rate and ETA, redrawn in
/// place on a terminal and printed at most every few seconds otherwise.
class Progress {
 public:
  Progress(std::string what, int64_t total) : what_(std::move(what)), total_(total) {}

  void Update(int64_t done, bool force = false) {
    auto now = std::chrono::steady_clock::now();
    double since = std::chrono::duration<double>(now - last_).count();
    if (!force && since < (tty_ ? 0.2 : 5.0)) return;
    last_ = now;
    double elapsed = std::chrono::duration<double>(now - start_).count();
    double rate = elapsed > 0 ? (done - first_) / elapsed : 0;
    std::string line = "\r" + what_ + ": " + std::to_string(done);
    if (total_ > 0) {
      char buf[128];
      double eta = rate > 0 ? (total_ - done) / rate : 0;
      std::snprintf(buf, sizeof(buf), "/%lld (%.1f%%) %.1f/s ETA %.0f s", static_cast<long long>(total_),
                    100.0 * done / total_, rate, eta);
      line += buf;
    } else {
      char buf[64];
      std::snprintf(buf, sizeof(buf), " %.1f/s", rate);
      line += buf;
    }
    std::fputs(tty_ ? line.c_str() : (line.substr(1) + "\n").c_str(), stderr);
    std::fflush(stderr);
  }
  void Resume(int64_t first) { first_ = first; }
  void Done(int64_t done) {
    Update(done, true);
    if (tty_) std::fputc('\n', stderr);
  }

 private:
  std::string what_;
  int64_t total_;
  int64_t first_ = 0;
  bool tty_ = isatty(fileno(stderr));
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace orqa::cli
