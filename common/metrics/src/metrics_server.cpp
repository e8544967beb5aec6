#include "rs/metrics/metrics_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

namespace rs::metrics {
namespace {

HttpAnswer json_answer(int status, nlohmann::json body) {
  return HttpAnswer{.status = status, .content_type = "application/json", .body = body.dump() + "\n"};
}

HttpAnswer error_answer(int status, std::string_view code, std::string_view message) {
  return json_answer(status, {{"error", code}, {"message", message}});
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

HttpAnswer route(std::string_view path, const Registry& registry,
                 const ReadinessFn& readiness) {
  if (path == "/metrics") {
    return HttpAnswer{.status = 200, .content_type = "text/plain; version=0.0.4; charset=utf-8",
                      .body = registry.render()};
  }
  if (path == "/healthz") return json_answer(200, {{"status", "ok"}});
  if (path == "/readyz") {
    Readiness r = readiness ? readiness() : Readiness{};
    if (r.ready) return json_answer(200, {{"ready", true}});
    return json_answer(503, {{"ready", false}, {"reason", r.reason}, {"detail", r.detail}});
  }
  return error_answer(404, "not_found", "no such path: try /metrics, /healthz or /readyz");
}

}  // namespace

void add_readiness_metric(Registry& registry, ReadinessFn readiness) {
  Gauge& ready = registry
                     .gauge("ringserve_ready",
                            "1 while the process is ready (its /readyz answers 200), else 0")
                     .with();
  registry.add_collector([&ready, readiness = std::move(readiness)] {
    ready.set(!readiness || readiness().ready ? 1 : 0);
  });
}

std::optional<HttpAnswer> answer_request(std::string_view head, const Registry& registry,
                                         const ReadinessFn& readiness) {
  size_t end = head.find("\r\n\r\n");
  if (end == std::string_view::npos) end = head.find("\n\n");
  if (end == std::string_view::npos) {
    if (head.size() < kMaxRequestHeadBytes) return std::nullopt;
    return error_answer(431, "head_too_large", "the request head passes 8 KiB");
  }
  if (end > kMaxRequestHeadBytes) {
    return error_answer(431, "head_too_large", "the request head passes 8 KiB");
  }
  const std::string_view line = head.substr(0, head.find_first_of("\r\n"));
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.substr(sp2 + 1).rfind("HTTP/1.", 0) != 0 ||
      line.size() != sp2 + 1 + 8) {
    return error_answer(400, "bad_request", "expected `METHOD /path HTTP/1.x`");
  }
  const std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  target = target.substr(0, target.find('?'));
  if (target.empty() || target.front() != '/') {
    return error_answer(400, "bad_request", "the target must be a path");
  }
  if (method != "GET" && method != "HEAD") {
    return error_answer(405, "method_not_allowed", "only GET and HEAD");
  }
  HttpAnswer a = route(target, registry, readiness);
  a.head_only = method == "HEAD";
  return a;
}

std::string format_response(const HttpAnswer& a) {
  std::string out = "HTTP/1.1 " + std::to_string(a.status) + " " + reason_phrase(a.status) + "\r\n";
  out += "Content-Type: " + a.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(a.body.size()) + "\r\n";
  out += "Cache-Control: no-store\r\nConnection: close\r\n";
  if (a.status == 405) out += "Allow: GET, HEAD\r\n";
  out += "\r\n";
  if (!a.head_only) out += a.body;
  return out;
}

MetricsServer::MetricsServer(Options options, const Registry& registry, ReadinessFn readiness)
    : options_(std::move(options)), registry_(registry), readiness_(std::move(readiness)) {}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(Options options,
                                                           const Registry& registry,
                                                           ReadinessFn readiness) {
  std::unique_ptr<MetricsServer> s(new MetricsServer(options, registry, std::move(readiness)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(options.port));
  if (inet_pton(AF_INET, options.host.c_str(), &addr.sin_addr) != 1) {
    return invalid_argument("metrics: not an IPv4 address: '" + options.host + "'");
  }
  s->listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->listen_fd_ < 0) return io_error(std::string("metrics: socket: ") + std::strerror(errno));
  int one = 1;
  setsockopt(s->listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(s->listen_fd_, 64) != 0) {
    return io_error("metrics: cannot listen on " + options.host + ":" +
                    std::to_string(options.port) + ": " + std::strerror(errno));
  }
  socklen_t len = sizeof addr;
  getsockname(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  s->port_ = ntohs(addr.sin_port);
  s->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s->wake_fd_ < 0) return io_error(std::string("metrics: eventfd: ") + std::strerror(errno));
  s->thread_ = std::thread([raw = s.get()] { raw->run(); });
  return s;
}

MetricsServer::~MetricsServer() {
  stop_.store(true);
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    ssize_t n = write(wake_fd_, &one, sizeof one);
    (void)n;
  }
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

namespace {

struct Connection {
  int fd = -1;
  std::string in;
  std::string out;
  size_t written = 0;
  bool answered = false;
  std::chrono::steady_clock::time_point deadline;
};

enum class ReadState { kOpen, kEof, kFailed };

// Reads what is there (a peer that half-closes after its request is still answered).
ReadState read_some(Connection& c) {
  char buf[4096];
  for (;;) {
    ssize_t n = recv(c.fd, buf, sizeof buf, 0);
    if (n > 0) {
      c.in.append(buf, static_cast<size_t>(n));
      if (c.in.size() > kMaxRequestHeadBytes + 4) return ReadState::kOpen;  // 431 next
      continue;
    }
    if (n == 0) return ReadState::kEof;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? ReadState::kOpen
                                                                    : ReadState::kFailed;
  }
}

// Writes what it can; false when done (all written) or failed.
bool write_some(Connection& c) {
  while (c.written < c.out.size()) {
    ssize_t n = send(c.fd, c.out.data() + c.written, c.out.size() - c.written, MSG_NOSIGNAL);
    if (n > 0) {
      c.written += static_cast<size_t>(n);
      continue;
    }
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
  }
  return false;
}

}  // namespace

void MetricsServer::run() {
  std::vector<Connection> conns;
  while (!stop_.load()) {
    std::vector<pollfd> fds{{wake_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (const Connection& c : conns) {
      fds.push_back({c.fd, static_cast<short>(c.answered ? POLLOUT : POLLIN), 0});
    }
    if (poll(fds.data(), fds.size(), 200) < 0 && errno != EINTR) break;
    const auto now = std::chrono::steady_clock::now();
    for (size_t i = 0; i < conns.size(); ++i) {
      Connection& c = conns[i];
      const short ev = fds[i + 2].revents;
      bool keep = now < c.deadline;
      if (keep && ev != 0 && !c.answered) {
        const ReadState state = read_some(c);
        if (auto a = answer_request(c.in, registry_, readiness_)) {
          requests_.fetch_add(1, std::memory_order_relaxed);
          c.out = format_response(*a);
          c.answered = true;
        } else {
          keep = state == ReadState::kOpen;  // closed before a whole head: dropped
        }
      }
      if (keep && c.answered) keep = write_some(c);
      if (!keep) {
        close(c.fd);
        c.fd = -1;
      }
    }
    std::erase_if(conns, [](const Connection& c) { return c.fd < 0; });
    if (fds[1].revents & POLLIN) {
      for (;;) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        if (static_cast<int>(conns.size()) >= options_.max_connections) {
          close(fd);  // over the bound: refused
          continue;
        }
        Connection c;
        c.fd = fd;
        c.deadline = now + std::chrono::milliseconds(options_.connection_timeout_ms);
        conns.push_back(std::move(c));
      }
    }
  }
  for (Connection& c : conns) close(c.fd);
}

}  // namespace rs::metrics
