#include "process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <fstream>
#include <thread>

namespace rs::cli {
namespace {

// In the forked child: only async-signal-safe calls until execv. Reports errno on
// `error_fd` (close-on-exec, so a successful exec closes it with nothing written).
[[noreturn]] void exec_child(const ProcessOptions& o, char* const* argv, int error_fd,
                             pid_t parent) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) ::_exit(126);  // the parent died before prctl
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  ::signal(SIGPIPE, SIG_DFL);
  int in = ::open("/dev/null", O_RDONLY);
  int out = o.log_path.empty() ? ::open("/dev/null", O_WRONLY)
                               : ::open(o.log_path.c_str(),
                                        O_WRONLY | O_CREAT | (o.append_log ? O_APPEND : O_TRUNC), 0644);
  if (in < 0 || out < 0) {
    int e = errno;
    (void)!::write(error_fd, &e, sizeof e);
    ::_exit(127);
  }
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::dup2(out, 2);
  ::execv(o.program.c_str(), argv);
  int e = errno;
  (void)!::write(error_fd, &e, sizeof e);
  ::_exit(127);
}

}  // namespace

Result<std::unique_ptr<ChildProcess>> ChildProcess::spawn(ProcessOptions options) {
  std::unique_ptr<ChildProcess> child(new ChildProcess(std::move(options)));
  const ProcessOptions& o = child->options_;
  std::vector<std::string> args;
  args.push_back(o.program);
  args.insert(args.end(), o.args.begin(), o.args.end());
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return io_error(std::string("pipe: ") + std::strerror(errno));
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return io_error("fork " + o.name + ": " + std::strerror(e));
  }
  if (pid == 0) {
    ::close(fds[0]);
    exec_child(o, argv.data(), fds[1], parent);
  }
  ::close(fds[1]);
  child->pid_ = pid;
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(fds[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  ::close(fds[0]);
  if (n > 0) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    child->reaped_ = true;
    child->wait_status_ = status;
    return io_error("cannot start " + o.name + " (" + o.program +
                    "): " + std::strerror(child_errno));
  }
  return child;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) kill();
}

void ChildProcess::record_status(int wait_status) {
  reaped_ = true;
  wait_status_ = wait_status;
}

bool ChildProcess::alive() {
  if (pid_ <= 0 || reaped_) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    record_status(status);
    return false;
  }
  if (r < 0 && errno == ECHILD) {
    record_status(0);
    return false;
  }
  return true;
}

std::string ChildProcess::exit_description() const {
  if (!reaped_) return "running";
  if (WIFEXITED(wait_status_))
    return "exited with status " + std::to_string(WEXITSTATUS(wait_status_));
  if (WIFSIGNALED(wait_status_)) {
    int sig = WTERMSIG(wait_status_);
    const char* name = ::sigdescr_np(sig);
    return "killed by signal " + std::to_string(sig) +
           (name != nullptr ? std::string(" (") + name + ")" : "");
  }
  return "ended";
}

int ChildProcess::exit_code() const {
  return reaped_ && WIFEXITED(wait_status_) ? WEXITSTATUS(wait_status_) : -1;
}

void ChildProcess::signal(int sig) {
  if (pid_ > 0 && !reaped_) ::kill(pid_, sig);
}

Status ChildProcess::terminate(int grace_ms) {
  signal(SIGTERM);
  return wait_or_kill(grace_ms);
}

Status ChildProcess::wait_or_kill(int grace_ms) {
  if (!alive()) return Status();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!alive()) return Status();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill();
  return Status(StatusCode::kUnavailable,
                options_.name + " did not stop within " + std::to_string(grace_ms) + " ms; killed");
}

void ChildProcess::kill() {
  if (pid_ <= 0 || reaped_) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  record_status(status);
}

std::string tail_file(const std::string& path, int max_lines) {
  std::ifstream in(path);
  if (!in) return "";
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(std::move(line));
    if (static_cast<int>(lines.size()) > max_lines) lines.pop_front();
  }
  std::string out;
  for (const std::string& l : lines) out += "    " + l + "\n";
  return out;
}

}  // namespace rs::cli
