// HttpConnection: a minimal blocking HTTP/1.1 client over one loopback TCP socket for
// gateway tests: sends raw bytes (so malformed requests can be sent too), reads one
// response (Content-Length or chunked), or reads an SSE stream event by event. Test thread
// only; no TLS, no redirects.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rs::test {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct SseEvent {
  std::string id;    // "" when the event had no id line
  std::string data;  // the data lines joined by '\n'
  bool comment = false;
};

class HttpConnection {
 public:
  HttpConnection() = default;
  ~HttpConnection() { close(); }
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  bool connect(int port) {
    close();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close();
      return false;
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    buf_.clear();
    return true;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool open() const { return fd_ >= 0; }

  bool send_raw(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  static std::string request_text(const std::string& method, const std::string& target,
                                  const std::string& body,
                                  const std::vector<std::string>& headers) {
    std::string r = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto& h : headers) r += h + "\r\n";
    if (!body.empty() || method == "POST") {
      r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n";
    }
    return r + "\r\n" + body;
  }

  bool send_request(const std::string& method, const std::string& target,
                    const std::string& body = "", const std::vector<std::string>& headers = {}) {
    return send_raw(request_text(method, target, body, headers));
  }

  // Reads the status line and headers; nullopt on EOF / timeout.
  std::optional<HttpResponse> read_head(int timeout_ms = 30000) {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(timeout_ms)) return std::nullopt;
    }
    HttpResponse r;
    std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    if (status_line.size() < 12) return std::nullopt;
    r.status = std::stoi(status_line.substr(9, 3));
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t e = head.find("\r\n", pos);
      if (e == std::string::npos) e = head.size();
      std::string line = head.substr(pos, e - pos);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        size_t v = line.find_first_not_of(' ', colon + 1);
        r.headers[name] = v == std::string::npos ? "" : line.substr(v);
      }
      pos = e + 2;
    }
    chunked_ = r.header("transfer-encoding") == "chunked";
    return r;
  }

  // A whole response (head and body).
  std::optional<HttpResponse> read_response(int timeout_ms = 30000) {
    auto r = read_head(timeout_ms);
    if (!r) return std::nullopt;
    if (chunked_) {
      std::string chunk;
      while (read_chunk(chunk, timeout_ms)) r->body += chunk;
    } else {
      const std::string len = r->header("content-length");
      const size_t n = len.empty() ? 0 : std::stoul(len);
      while (buf_.size() < n) {
        if (!fill(timeout_ms)) return std::nullopt;
      }
      r->body = buf_.substr(0, n);
      buf_.erase(0, n);
    }
    return r;
  }

  std::optional<HttpResponse> request(const std::string& method, const std::string& target,
                                      const std::string& body = "",
                                      const std::vector<std::string>& headers = {},
                                      int timeout_ms = 60000) {
    if (!send_request(method, target, body, headers)) return std::nullopt;
    return read_response(timeout_ms);
  }

  // The next SSE event of a chunked event-stream body (after read_head); nullopt at the
  // end of the body, on EOF or on timeout.
  std::optional<SseEvent> next_event(int timeout_ms = 30000) {
    size_t end;
    while ((end = sse_.find("\n\n")) == std::string::npos) {
      std::string chunk;
      if (!read_chunk(chunk, timeout_ms)) return std::nullopt;
      sse_ += chunk;
    }
    std::string block = sse_.substr(0, end);
    sse_.erase(0, end + 2);
    SseEvent e;
    size_t pos = 0;
    bool any_data = false;
    while (pos <= block.size()) {
      size_t nl = block.find('\n', pos);
      if (nl == std::string::npos) nl = block.size();
      std::string line = block.substr(pos, nl - pos);
      if (line.rfind(":", 0) == 0) e.comment = true;
      if (line.rfind("id: ", 0) == 0) e.id = line.substr(4);
      if (line.rfind("data: ", 0) == 0) {
        e.data += (any_data ? "\n" : "") + line.substr(6);
        any_data = true;
      }
      pos = nl + 1;
    }
    return e;
  }

  // True once the peer closed the connection (reads EOF within timeout_ms).
  bool closed_by_peer(int timeout_ms) {
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return false;
      char tmp[4096];
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) return true;
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }

 private:
  bool fill(int timeout_ms) {
    if (fd_ < 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  // One chunk's data; false at the last (zero) chunk or on EOF.
  bool read_chunk(std::string& out, int timeout_ms) {
    size_t e;
    while ((e = buf_.find("\r\n")) == std::string::npos) {
      if (!fill(timeout_ms)) return false;
    }
    const size_t n = std::stoul(buf_.substr(0, e), nullptr, 16);
    while (buf_.size() < e + 2 + n + 2) {
      if (!fill(timeout_ms)) return false;
    }
    out = buf_.substr(e + 2, n);
    buf_.erase(0, e + 2 + n + 2);
    return n > 0;
  }

  int fd_ = -1;
  std::string buf_;
  std::string sse_;
  bool chunked_ = false;
};

}  // namespace rs::test
