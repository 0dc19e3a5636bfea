#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace orqa::testing {

/// A child process started by a test; killed (SIGKILL) on destruction if still running.
class Process {
 public:
  Process() = default;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  /// Starts `argv[0]` with `argv`; stdout and stderr go to `log_path`.
  /// `env` entries are added to (or replace in) the inherited environment.
  /// Starting again after the previous child ended is allowed.
  bool Start(const std::vector<std::string>& argv, const std::string& log_path,
             const std::map<std::string, std::string>& env = {});

  /// Sends `sig`, waits up to `timeout`; returns the exit status (0..255),
  /// 128+signal if it died from a signal, or -1 if it did not end in time.
  int StopAndWait(int sig, std::chrono::milliseconds timeout);

  /// Waits for the process to end by itself; same return convention.
  int Wait(std::chrono::milliseconds timeout);

  bool running();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

#ifdef ORQA_BIN_DIR
/// Path of a binary built by this project.
inline std::string Bin(const std::string& name) { return std::string(ORQA_BIN_DIR) + "/" + name; }
#endif

/// A TCP port on 127.0.0.1 that was free a moment ago.
int PickFreePort();

/// Runs a command line through /bin/sh; returns its exit status and output.
int RunCommand(const std::string& command, std::string* output);

/// Reads a whole file ("" if missing).
std::string ReadFile(const std::string& path);

/// A fresh temporary directory.
std::string MakeTempDir(const std::string& prefix);

}  // namespace orqa::testing
