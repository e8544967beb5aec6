// ChildProcess: one program started by a test (fork + execv), its stdout captured through
// a pipe (to read "ready" lines), its stderr appended to a log file. The child gets SIGKILL
// if the test process dies (PR_SET_PDEATHSIG). TempDir: a private directory under /tmp.
// run_program(): run to completion and capture stdout. Test thread only.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace rs::test {

// A fresh directory /tmp/<stem>-XXXXXX, removed with its contents at destruction unless
// keep() was called (e.g. to look at logs after a failure).
class TempDir {
 public:
  explicit TempDir(const std::string& stem = "rs-integ") {
    std::string tmpl = "/tmp/" + stem + "-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) != nullptr) path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    if (!keep_ && !path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void keep() { keep_ = true; }

 private:
  std::string path_;
  bool keep_ = false;
};

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess() {
    kill_hard();
    if (out_fd_ >= 0) ::close(out_fd_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts argv[0] (a path) with argv; stderr appended to stderr_path ("" = /dev/null).
  bool start(const std::vector<std::string>& argv, const std::string& stderr_path) {
    if (argv.empty() || pid_ > 0) return false;
    argv_ = argv;
    std::vector<char*> args;
    for (const auto& a : argv_) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return false;
    const std::string err_path = stderr_path.empty() ? "/dev/null" : stderr_path;
    int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {  // child: async-signal-safe calls only, then exec
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(126);
      ::dup2(fds[1], STDOUT_FILENO);
      if (err_fd >= 0) ::dup2(err_fd, STDERR_FILENO);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    if (err_fd >= 0) ::close(err_fd);
    if (pid_ < 0) {
      ::close(fds[0]);
      return false;
    }
    out_fd_ = fds[0];
    return true;
  }

  // Reads stdout until a line starting with `prefix` arrives (returned), the child closes
  // stdout / exits, or timeout_ms passes (nullopt). Earlier lines stay in lines().
  std::optional<std::string> wait_for_line(const std::string& prefix, int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    size_t checked = 0;
    for (;;) {
      for (; checked < lines_.size(); ++checked) {
        if (lines_[checked].rfind(prefix, 0) == 0) return lines_[checked];
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !read_some(static_cast<int>(left.count()))) return std::nullopt;
    }
  }
  // Every complete stdout line read so far (read more with read_available()).
  const std::vector<std::string>& lines() const { return lines_; }
  // Reads whatever stdout holds now without blocking (keeps the pipe from filling).
  void read_available() {
    while (read_some(0)) {
    }
  }
  // Reads stdout to its end (the child exited or closed it) within timeout_ms.
  std::string read_all(int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (out_fd_ >= 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !read_some(static_cast<int>(left.count()))) break;
    }
    std::string all;
    for (const auto& l : lines_) all += l + "\n";
    return all + partial_;
  }

  bool alive() {
    if (pid_ <= 0) return false;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      status_ = status;
      pid_ = -1;
      return false;
    }
    return r == 0;
  }
  // SIGKILL (kill -9) and reap.
  void kill_hard() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    reap(-1);
  }
  // SIGTERM, then SIGKILL after timeout_ms; true if it exited on SIGTERM.
  bool terminate(int timeout_ms) {
    if (pid_ <= 0) return true;
    ::kill(pid_, SIGTERM);
    if (reap(timeout_ms)) return true;
    kill_hard();
    return false;
  }
  // Waits up to timeout_ms (<0: forever) for the child to exit; true if it did.
  bool wait_exit(int timeout_ms) { return pid_ <= 0 || reap(timeout_ms); }
  // The wait status of the exited child (WIFEXITED/WEXITSTATUS), -1 while running.
  int wait_status() const { return status_; }
  int exit_code() const { return status_ >= 0 && WIFEXITED(status_) ? WEXITSTATUS(status_) : -1; }
  pid_t pid() const { return pid_; }
  const std::vector<std::string>& argv() const { return argv_; }

 private:
  // One poll + read; false when nothing arrived in timeout_ms or stdout is closed.
  bool read_some(int timeout_ms) {
    if (out_fd_ < 0) return false;
    pollfd p{out_fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    char buf[4096];
    ssize_t n = ::read(out_fd_, buf, sizeof buf);
    if (n <= 0) {
      ::close(out_fd_);
      out_fd_ = -1;
      if (!partial_.empty()) lines_.push_back(std::move(partial_));
      partial_.clear();
      return false;
    }
    partial_.append(buf, static_cast<size_t>(n));
    for (size_t nl; (nl = partial_.find('\n')) != std::string::npos;) {
      lines_.push_back(partial_.substr(0, nl));
      partial_.erase(0, nl + 1);
    }
    return true;
  }
  bool reap(int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, timeout_ms < 0 ? 0 : WNOHANG);
      if (r == pid_ || (r < 0 && errno == ECHILD)) {
        status_ = status;
        pid_ = -1;
        return true;
      }
      if (timeout_ms >= 0 && std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int status_ = -1;
  std::vector<std::string> argv_;
  std::vector<std::string> lines_;
  std::string partial_;
};

// Runs argv to completion (at most timeout_ms, then SIGKILL); returns its stdout, or
// nullopt if it could not start, timed out or exited non-zero. stderr goes to stderr_path.
inline std::optional<std::string> run_program(const std::vector<std::string>& argv,
                                              const std::string& stderr_path, int timeout_ms) {
  ChildProcess p;
  if (!p.start(argv, stderr_path)) return std::nullopt;
  std::string out = p.read_all(timeout_ms);
  if (!p.wait_exit(1000)) {
    p.kill_hard();
    return std::nullopt;
  }
  if (p.exit_code() != 0) return std::nullopt;
  return out;
}

// The last `max_lines` lines of a text file ("" if missing), for failure messages.
inline std::string file_tail(const std::string& path, size_t max_lines = 30) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::ostringstream out;
  size_t from = lines.size() > max_lines ? lines.size() - max_lines : 0;
  for (size_t i = from; i < lines.size(); ++i) out << lines[i] << "\n";
  return out.str();
}

}  // namespace rs::test
