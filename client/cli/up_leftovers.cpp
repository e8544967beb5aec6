// The pid file of `ringserve up` and stopping the children an earlier `up` left running.
#include "up_leftovers.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace rs::cli {
namespace {

using LeftoverClock = std::chrono::steady_clock;

constexpr int kLeftoverPollMs = 20;
constexpr int kLeftoverKillMs = 5000;  // how long a SIGKILLed leftover may take to vanish

// True when `child` (as recorded) runs no more, waiting up to timeout_ms.
bool gone_within(const RecordedChild& child, int timeout_ms) {
  const auto deadline = LeftoverClock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    auto ticks = process_start_ticks(child.pid);
    if (!ticks || *ticks != child.start_ticks) return true;
    if (LeftoverClock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(kLeftoverPollMs));
  }
}

std::vector<RecordedChild> read_pid_file(const std::string& path) {
  std::vector<RecordedChild> out;
  std::ifstream in(path);
  RecordedChild c;
  while (in >> c.pid >> c.start_ticks >> c.name) {
    if (c.pid > 1) out.push_back(c);
  }
  return out;
}

}  // namespace

std::optional<uint64_t> process_start_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return std::nullopt;
  const size_t close = stat.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(stat.substr(close + 1));
  std::string field;
  // Fields 3.. follow the name: state is 3, starttime is 22.
  std::string state;
  rest >> state;
  if (state == "Z" || state == "X") return std::nullopt;
  for (int i = 4; i < 22 && rest >> field; ++i) {
  }
  uint64_t ticks = 0;
  if (!(rest >> ticks)) return std::nullopt;
  return ticks;
}

Status write_pid_file(const std::string& path, const std::vector<RecordedChild>& children) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (const RecordedChild& c : children) {
      out << c.pid << ' ' << c.start_ticks << ' ' << c.name << '\n';
    }
    if (!out) return io_error("cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return io_error("cannot write " + path + ": " + ec.message());
  return Status();
}

std::vector<std::string> stop_leftovers(const std::string& path, int grace_ms) {
  std::vector<RecordedChild> running;
  for (const RecordedChild& c : read_pid_file(path)) {
    auto ticks = process_start_ticks(c.pid);
    if (ticks && *ticks == c.start_ticks) running.push_back(c);
  }
  for (const RecordedChild& c : running) ::kill(c.pid, SIGTERM);
  std::vector<std::string> stopped;
  for (const RecordedChild& c : running) {
    if (!gone_within(c, grace_ms)) {
      ::kill(c.pid, SIGKILL);
      gone_within(c, kLeftoverKillMs);
    }
    stopped.push_back(c.name + " (pid " + std::to_string(c.pid) + ")");
  }
  std::error_code ec;
  std::filesystem::remove(path, ec);
  return stopped;
}

pid_t read_lock_owner(int lock_fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(lock_fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  return static_cast<pid_t>(std::strtol(buf, nullptr, 10));
}

void write_lock_owner(int lock_fd) {
  const std::string line = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_fd, 0) != 0) return;
  (void)!::pwrite(lock_fd, line.data(), line.size(), 0);
}

}  // namespace rs::cli
