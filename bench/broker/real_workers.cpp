// bench-broker real workers: ringserve-worker child processes on a tiny synthetic model.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "bench_broker.h"

namespace rs::bench {
namespace {

// fork + exec argv with stdout on a pipe (stderr inherited); -1 on failure.
int spawn(const std::vector<std::string>& argv, int* stdout_fd) {
  int fds[2];
  if (::pipe(fds) != 0) return -1;
  int pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  *stdout_fd = fds[0];
  return pid;
}

// Reads fd until a line starting with "ready" or timeout.
bool wait_ready(int fd, int timeout_ms) {
  std::string buf;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char chunk[512];
    ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n <= 0) return false;
    buf.append(chunk, static_cast<size_t>(n));
    if (buf.rfind("ready", 0) == 0 || buf.find("\nready") != std::string::npos) return true;
  }
  return false;
}

}  // namespace

bool synth_model(const std::string& bin_dir, const std::string& path, std::string* error) {
  if (std::filesystem::exists(path)) return true;
  std::string tool = bin_dir + "/ringserve-model";
  int out = -1;
  int pid = spawn({tool, "synth", "--dim", "32", "--layers", "1", "--heads", "2", "--kv-heads", "2",
                   "--ffn", "64", path},
                  &out);
  if (pid < 0) {
    *error = "cannot run " + tool;
    return false;
  }
  char sink[256];
  while (::read(out, sink, sizeof(sink)) > 0) {
  }
  ::close(out);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *error = tool + " synth failed";
    return false;
  }
  return true;
}

RealWorkers::~RealWorkers() { stop(); }

bool RealWorkers::start(const std::string& bin_dir, const std::string& endpoint,
                        const std::string& model_file, int n, int devices, int max_batch,
                        std::string* error) {
  std::string bin = bin_dir + "/ringserve-worker";
  if (::access(bin.c_str(), X_OK) != 0) {
    *error = bin + " not found (build ringserve-worker)";
    return false;
  }
  for (int i = 0; i < n; ++i) {
    int out = -1;
    int pid = spawn({bin, "--broker", endpoint, "--model", model_file, "--model-name", "bench",
                     "--devices", std::to_string(devices), "--max-batch-size",
                     std::to_string(max_batch), "--worker-id", "rw-" + std::to_string(i),
                     "--log-level", "warn"},
                    &out);
    if (pid < 0) {
      *error = "cannot start " + bin;
      return false;
    }
    pids_.push_back(pid);
    fds_.push_back(out);  // kept open until stop(): a later print must not hit SIGPIPE
    if (!wait_ready(out, 30000)) {
      *error = "ringserve-worker " + std::to_string(i) + " did not print ready";
      return false;
    }
  }
  return true;
}

void RealWorkers::stop() {
  for (int pid : pids_) ::kill(pid, SIGTERM);
  for (int pid : pids_) {
    int status = 0;
    for (int i = 0; i < 300; ++i) {
      if (::waitpid(pid, &status, WNOHANG) == pid) break;
      if (i == 299) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
      }
      ::usleep(10000);
    }
  }
  pids_.clear();
  for (int fd : fds_) ::close(fd);
  fds_.clear();
}

}  // namespace rs::bench
