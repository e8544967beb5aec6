// RingserveRun: the `ringserve` program run as a child of a test in a directory (stdout and
// stderr to files there), as a user runs `ringserve up` or a CLI command; and the process
// checks the `up` tests make: a process's children, and whether pids are gone. The child
// gets SIGTERM if the test dies (PR_SET_PDEATHSIG). Test thread only.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_paths.h"

namespace rs::test {

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The lines of `text` that are JSON objects (a CLI's --json output), parsed; others skipped.
inline std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded()) out.push_back(std::move(j));
  }
  return out;
}

// A `ringserve` child run in `dir`, its stdout/stderr in dir/up.out and dir/up.err.
class RingserveRun {
 public:
  RingserveRun(const std::filesystem::path& dir, std::vector<std::string> args,
               const std::string& tag = "up")
      : dir_(dir) {
    out_ = dir / (tag + ".out");
    err_ = dir / (tag + ".err");
    args.insert(args.begin(), bin_dir() + "/ringserve");
    pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(126);
      if (::chdir(dir.c_str()) != 0) ::_exit(125);
      if (!std::freopen(out_.c_str(), "w", stdout) || !std::freopen(err_.c_str(), "w", stderr))
        ::_exit(124);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~RingserveRun() {
    if (running()) {
      ::kill(pid_, SIGTERM);
      wait_exit(30000);
    }
    if (running()) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status_, 0);
    }
  }
  pid_t pid() const { return pid_; }
  bool running() {
    if (exited_) return false;
    if (::waitpid(pid_, &status_, WNOHANG) == pid_) exited_ = true;
    return !exited_;
  }
  // Exit code once it exits within timeout_ms; -1 on timeout or a signal.
  int wait_exit(int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (running() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!exited_ || !WIFEXITED(status_)) return -1;
    return WEXITSTATUS(status_);
  }
  std::string out() const { return read_file(out_); }
  std::string err() const { return read_file(err_); }
  std::string logs() const {
    std::string s = "--- stdout\n" + out() + "--- stderr\n" + err();
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_ / "var" / "log", ec)) {
      s += "--- " + e.path().string() + "\n" + read_file(e.path());
    }
    return s;
  }

 private:
  std::filesystem::path dir_, out_, err_;
  pid_t pid_ = -1;
  int status_ = 0;
  bool exited_ = false;
};

// Pids whose parent is `parent` (from /proc/<pid>/stat).
inline std::set<pid_t> children_of(pid_t parent) {
  std::set<pid_t> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = read_file(e.path() / "stat");
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) out.insert(static_cast<pid_t>(std::stoi(name)));
  }
  return out;
}

inline bool gone(pid_t pid) {
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

inline bool all_gone_within(const std::set<pid_t>& pids, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    bool all = true;
    for (pid_t p : pids) all = all && gone(p);
    if (all) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace rs::test
