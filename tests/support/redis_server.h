// RedisServer: a private redis-server child process for tests: a free loopback port, its
// own temp dir, no persistence unless set_aof(true) (then every write is fsynced to an AOF
// in that dir, and a restart brings the data back). start() waits until PING answers;
// stop() kills it (-9); restart() brings it back on the same port; pause()/resume() stop
// and continue it (SIGSTOP/SIGCONT: a stalled Redis). One thread (the test's).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "test_paths.h"

namespace rs::test {

class RedisServer {
 public:
  RedisServer() = default;
  ~RedisServer() {
    stop();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  static std::string binary() {
    const char* env = std::getenv("RS_REDIS_SERVER");
    return env != nullptr && *env != '\0' ? env : "/usr/bin/redis-server";
  }
  static bool available() { return ::access(binary().c_str(), X_OK) == 0; }

  // Starts on a fresh free port (first call) or the same port (after stop()).
  bool start() {
    if (port_ == 0) port_ = free_port();
    if (dir_.empty()) {
      char tmpl[] = "/tmp/rs-redis-XXXXXX";
      if (::mkdtemp(tmpl) == nullptr) return false;
      dir_ = tmpl;
    }
    std::string port = std::to_string(port_);
    pid_ = ::fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      ::setpgid(0, 0);
      std::string bin = binary();
      // clang-format off
      std::vector<std::string> args = {bin, "--port", port, "--bind", "127.0.0.1", "--save", "",
                                       "--appendonly", aof_ ? "yes" : "no", "--appendfsync", "always",
                                       "--dir", dir_, "--loglevel", "warning", "--logfile",
                                       dir_ + "/redis.log"};
      // clang-format on
      args.insert(args.end(), extra_args_.begin(), extra_args_.end());
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(bin.c_str(), argv.data());
      ::_exit(127);
    }
    for (int i = 0; i < 500; ++i) {
      if (ping()) return true;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  bool restart() {
    stop();
    return start();
  }
  bool running() const { return pid_ > 0; }
  void set_aof(bool on) { aof_ = on; }
  // More redis-server flags for the next start(), e.g. {"--aclfile", path}.
  void set_extra_args(std::vector<std::string> args) { extra_args_ = std::move(args); }
  void pause() {
    if (pid_ > 0) ::kill(pid_, SIGSTOP);
  }
  void resume() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
  }
  int port() const { return port_; }

  // A raw-socket PING (no client library needed). With ready_auth set it sends AUTH first
  // and wants +PONG: Redis answers NOAUTH even while it is still LOADING its AOF, so only
  // an authenticated PING tells that the data is back.
  bool ping() const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    timeval tv{0, 500 * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr = loopback(port_);
    bool ok = false;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      std::string cmd = "PING\r\n";
      if (!auth_user_.empty()) cmd = "AUTH " + auth_user_ + " " + auth_password_ + "\r\n" + cmd;
      const size_t want_lines = auth_user_.empty() ? 1 : 2;
      std::string got;
      if (::write(fd, cmd.data(), cmd.size()) == static_cast<ssize_t>(cmd.size())) {
        char buf[256];
        while (std::count(got.begin(), got.end(), '\n') < static_cast<long>(want_lines)) {
          ssize_t n = ::read(fd, buf, sizeof buf);
          if (n <= 0) break;
          got.append(buf, static_cast<size_t>(n));
        }
      }
      size_t last = got.find('\n');
      if (want_lines == 2 && last != std::string::npos) got = got.substr(last + 1);
      // -NOAUTH: a server whose default user has a password (ACL users) is up too.
      ok = got.rfind("+PONG", 0) == 0 || (auth_user_.empty() && got.rfind("-NOAUTH", 0) == 0);
    }
    ::close(fd);
    return ok;
  }
  // Credentials start() uses to tell a loaded server from one still LOADING (see ping()).
  void set_ready_auth(std::string user, std::string password) {
    auth_user_ = std::move(user);
    auth_password_ = std::move(password);
  }

  // A free loopback port for any test server: binds 127.0.0.1:0, reads the port back and
  // closes (a small race, fine for tests).
  static int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = loopback(0);
    socklen_t len = sizeof addr;
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    ::close(fd);
    return port;
  }

 private:
  static sockaddr_in loopback(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
  }
  int port_ = 0;
  pid_t pid_ = -1;
  std::string dir_;
  bool aof_ = false;
  std::vector<std::string> extra_args_;
  std::string auth_user_;
  std::string auth_password_;
};

}  // namespace rs::test

// Skips the test when no redis-server binary is found, or fails it under CI=true.
#define RS_REQUIRE_REDIS()                                                \
  do {                                                                    \
    if (!::rs::test::RedisServer::available()) {                          \
      if (::rs::test::in_ci()) FAIL() << "no redis-server under CI=true"; \
      GTEST_SKIP() << "no redis-server";                                  \
    }                                                                     \
  } while (0)
