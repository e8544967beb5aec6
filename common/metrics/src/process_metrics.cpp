// The process's own metrics, read from /proc/self at each render (Linux).
#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "rs/metrics/metrics.h"

namespace rs::metrics {
namespace {

#ifndef RS_VERSION
#define RS_VERSION "0.1.0"
#endif

double boot_time_s() {
  std::ifstream in("/proc/stat");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("btime ", 0) == 0) return std::stod(line.substr(6));
  }
  return 0;
}

struct ProcStat {
  double cpu_s = 0;
  double start_s = 0;  // since boot
};

ProcStat read_stat() {
  ProcStat st;
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) is in parentheses and may hold spaces: fields after the last ')'.
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return st;
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  for (int i = 3; fields >> f; ++i) {
    if (i == 14 || i == 15) st.cpu_s += std::stod(f) / ticks;  // utime, stime
    if (i == 22) {
      st.start_s = std::stod(f) / ticks;
      break;
    }
  }
  return st;
}

double resident_bytes() {
  std::ifstream in("/proc/self/statm");
  long size = 0, resident = 0;
  in >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

double open_fds() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return 0;
  double n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;  // the descriptor opendir holds
}

}  // namespace

void add_process_metrics(Registry& registry, const std::string& program) {
  registry.gauge("ringserve_build_info", "ringserve's version and program (always 1)",
                 {"program", "version"})
      .with({program, RS_VERSION})
      .set(1);
  Gauge& start = registry.gauge("process_start_time_seconds",
                                "Start time of the process since the Unix epoch, in seconds")
                     .with();
  Counter& cpu = registry.counter("process_cpu_seconds_total",
                                  "User and system CPU time spent, in seconds")
                     .with();
  Gauge& rss = registry.gauge("process_resident_memory_bytes", "Resident memory size in bytes")
                   .with();
  Gauge& fds = registry.gauge("process_open_fds", "Open file descriptors").with();
  const double boot = boot_time_s();
  start.set(boot + read_stat().start_s);
  registry.add_collector([&cpu, &rss, &fds] {
    cpu.set_total(read_stat().cpu_s);
    rss.set(resident_bytes());
    fds.set(open_fds());
  });
}

}  // namespace rs::metrics
