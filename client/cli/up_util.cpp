#include "up_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace rs::cli {
namespace fs = std::filesystem;

Result<int> free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return io_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int e = errno;
    ::close(fd);
    return io_error(std::string("cannot find a free loopback port: ") + std::strerror(e));
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

namespace {

bool executable(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

std::optional<std::string> on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return std::nullopt;
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    fs::path candidate = fs::path(dir) / name;
    if (executable(candidate)) return candidate.string();
  }
  return std::nullopt;
}

}  // namespace

Result<std::string> find_program(const std::string& name, const char* env_override) {
  if (env_override != nullptr) {
    const char* v = std::getenv(env_override);
    if (v != nullptr && *v != '\0') {
      if (executable(v)) return std::string(v);
      return not_found(std::string(env_override) + "=" + v + " is not an executable file");
    }
  }
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path sibling = self.parent_path() / name;
    if (executable(sibling)) return sibling.string();
  }
  if (auto p = on_path(name)) return *p;
  std::string where = ec ? "" : self.parent_path().string() + " or ";
  return not_found("cannot find " + name + " (looked in " + where + "PATH)");
}

Result<std::string> find_redis_server() {
  const char* v = std::getenv("RS_REDIS_SERVER");
  if (v != nullptr && *v != '\0') {
    if (executable(v)) return std::string(v);
    return not_found(std::string("RS_REDIS_SERVER=") + v + " is not an executable file");
  }
  if (auto p = on_path("redis-server")) return *p;
  if (executable("/usr/bin/redis-server")) return std::string("/usr/bin/redis-server");
  return not_found(
      "cannot find redis-server (set RS_REDIS_SERVER or install the redis-server package: "
      "scripts/setup.sh)");
}

bool redis_ping(int port, int timeout_ms) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const char ping[] = "PING\r\n";
    if (::send(fd, ping, sizeof ping - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof ping - 1)) {
      pollfd p{fd, POLLIN, 0};
      char buf[64] = {};
      if (::poll(&p, 1, timeout_ms) == 1) {
        ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
        // -NOAUTH: a Redis with ACL users (ringserve up's) answers too: it is up.
        ok = n >= 5 && (std::strncmp(buf, "+PONG", 5) == 0 || std::strncmp(buf, "-NOAUTH", 7) == 0);
      }
    }
  }
  ::close(fd);
  return ok;
}

std::optional<std::string> find_line(const std::string& path, const std::string& prefix) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // a partial last line: wait for its newline
    if (line.compare(0, prefix.size(), prefix) == 0) return line.substr(prefix.size());
  }
  return std::nullopt;
}

std::string field_of(const std::string& line, const std::string& key) {
  std::stringstream ss(line);
  std::string word;
  std::string k = key + "=";
  while (ss >> word) {
    if (word.compare(0, k.size(), k) == 0) return word.substr(k.size());
  }
  return "";
}

}  // namespace rs::cli
