// `ringserve top`'s blocking HTTP GET (top_http.h).
#include "top_http.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>

namespace rs::cli {
namespace {

using HttpClock = std::chrono::steady_clock;

Status unavailable_error(std::string m) { return Status(StatusCode::kUnavailable, std::move(m)); }

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool parse_decimal(std::string_view s, size_t& out, int base = 10) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

// The body of a chunked response: hex size lines, data, a 0 chunk; trailers ignored.
Result<std::string> dechunk(std::string_view in) {
  std::string out;
  for (;;) {
    const size_t eol = in.find("\r\n");
    if (eol == std::string_view::npos) return invalid_argument("chunked body cut short");
    std::string_view size_text = in.substr(0, eol);
    size_text = size_text.substr(0, size_text.find(';'));  // chunk extensions
    size_t size = 0;
    if (!parse_decimal(size_text, size, 16)) return invalid_argument("bad chunk size");
    in.remove_prefix(eol + 2);
    if (size == 0) return out;
    if (in.size() < size + 2) return invalid_argument("chunked body cut short");
    out.append(in.substr(0, size));
    in.remove_prefix(size + 2);
  }
}

// The milliseconds left before `deadline` (0 when past), at most 100 (to look at `stop`).
int slice_ms(HttpClock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - HttpClock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, 100));
}

// Waits for `events` on fd until the deadline; an error when it passed or stop was set.
Status wait_for(int fd, short events, HttpClock::time_point deadline, const HttpGetOptions& o,
                const std::string& what) {
  for (;;) {
    if (o.stop != nullptr && o.stop->load()) return Status(StatusCode::kCancelled, "cancelled");
    if (HttpClock::now() >= deadline) {
      return unavailable_error(what + ": timed out after " + std::to_string(o.timeout_ms) + " ms");
    }
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, slice_ms(deadline));
    if (n > 0) return Status();
    if (n < 0 && errno != EINTR) return unavailable_error(what + ": poll: " + std::strerror(errno));
  }
}

// A socket connected to one of the host's addresses (non-blocking), or the last error.
Result<int> connect_to(const HttpUrl& url, HttpClock::time_point deadline, const HttpGetOptions& o) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &found); rc != 0) {
    return unavailable_error("cannot resolve " + url.host + ": " + ::gai_strerror(rc));
  }
  Status last = unavailable_error("no address for " + url.host);
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last = unavailable_error(std::string("connect: ") + std::strerror(errno));
      ::close(fd);
      continue;
    }
    last = wait_for(fd, POLLOUT, deadline, o, "connect");
    int err = 0;
    socklen_t len = sizeof err;
    if (last.ok() && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
      ::freeaddrinfo(found);
      return fd;
    }
    if (last.ok()) last = unavailable_error(std::string("connect: ") + std::strerror(err));
    ::close(fd);
    if (last.code() == StatusCode::kCancelled) break;
  }
  ::freeaddrinfo(found);
  return last;
}

Status send_all(int fd, std::string_view data, HttpClock::time_point deadline, const HttpGetOptions& o) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return unavailable_error(std::string("send: ") + std::strerror(errno));
    }
    RS_RETURN_IF_ERROR(wait_for(fd, POLLOUT, deadline, o, "send"));
  }
  return Status();
}

// True once `raw` holds a whole response with a Content-Length (no need to wait for EOF).
bool complete_by_length(std::string_view raw) {
  const size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return false;
  const std::string head = lower_ascii(raw.substr(0, head_end));
  const size_t at = head.find("\r\ncontent-length:");
  if (at == std::string::npos) return false;
  const size_t eol = head.find("\r\n", at + 2);
  size_t length = 0;
  const size_t from = at + 17;
  return parse_decimal(std::string_view(head).substr(from, eol == std::string::npos ? std::string::npos : eol - from),
                       length) &&
         raw.size() >= head_end + 4 + length;
}

Result<std::string> receive_all(int fd, HttpClock::time_point deadline, const HttpGetOptions& o) {
  std::string raw;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      raw.append(buf, static_cast<size_t>(n));
      if (raw.size() > o.max_bytes) {
        return resource_exhausted("response over " + std::to_string(o.max_bytes) + " bytes");
      }
      if (complete_by_length(raw)) return raw;
      continue;
    }
    if (n == 0) return raw;
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return unavailable_error(std::string("recv: ") + std::strerror(errno));
    }
    RS_RETURN_IF_ERROR(wait_for(fd, POLLIN, deadline, o, "read"));
  }
}

}  // namespace

Result<HttpUrl> parse_http_url(std::string_view url) {
  const std::string given(url.substr(0, 200));
  if (url.rfind("http://", 0) != 0) return invalid_argument("not an http:// URL: '" + given + "'");
  std::string_view rest = url.substr(7);
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string path(slash == std::string_view::npos ? std::string_view() : rest.substr(slash));
  HttpUrl u;
  u.port = "80";
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return invalid_argument("bad IPv6 address in '" + given + "'");
    u.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    if (!authority.empty() && authority.front() != ':') return invalid_argument("bad URL '" + given + "'");
  } else {
    u.host = std::string(authority.substr(0, authority.find(':')));
    authority.remove_prefix(std::min(authority.size(), u.host.size()));
  }
  if (!authority.empty()) {
    size_t port = 0;
    if (!parse_decimal(authority.substr(1), port) || port == 0 || port > 65535) {
      return invalid_argument("bad port in '" + given + "'");
    }
    u.port = std::to_string(port);
  }
  if (u.host.empty() || u.host.find_first_of("@ \t\r\n") != std::string::npos) {
    return invalid_argument("bad host in '" + given + "'");
  }
  if (path.find_first_of("?# \t\r\n") != std::string::npos) return invalid_argument("bad path in '" + given + "'");
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.size() >= 8 && path.compare(path.size() - 8, 8, "/metrics") == 0) path.resize(path.size() - 8);
  while (!path.empty() && path.back() == '/') path.pop_back();
  u.base_path = path;
  return u;
}

Result<HttpReply> parse_http_response(std::string_view raw) {
  const size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return invalid_argument("no complete HTTP response head");
  const std::string_view head = raw.substr(0, head_end);
  std::string_view body = raw.substr(head_end + 4);
  const std::string_view status_line = head.substr(0, head.find("\r\n"));
  size_t status = 0;
  if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12 || status_line[8] != ' ' ||
      !parse_decimal(status_line.substr(9, 3), status) || status < 100 || status > 999) {
    return invalid_argument("not an HTTP/1.x response");
  }
  HttpReply reply{.status = static_cast<int>(status), .body = {}};
  const std::string headers = lower_ascii(head.substr(status_line.size()));
  if (headers.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
    RS_ASSIGN_OR_RETURN(reply.body, dechunk(body));
    return reply;
  }
  if (const size_t at = headers.find("\r\ncontent-length:"); at != std::string::npos) {
    const size_t eol = headers.find("\r\n", at + 2);
    size_t length = 0;
    if (!parse_decimal(std::string_view(headers).substr(at + 17, eol == std::string::npos ? std::string::npos
                                                                                            : eol - at - 17),
                       length)) {
      return invalid_argument("bad Content-Length");
    }
    if (body.size() < length) return invalid_argument("response body cut short");
    body = body.substr(0, length);
  }
  reply.body = std::string(body);
  return reply;
}

Result<HttpReply> http_get(const HttpUrl& url, std::string_view path, const HttpGetOptions& options) {
  const auto deadline = HttpClock::now() + std::chrono::milliseconds(options.timeout_ms);
  RS_ASSIGN_OR_RETURN(int fd, connect_to(url, deadline, options));
  const bool v6 = url.host.find(':') != std::string::npos;
  const std::string request = "GET " + url.base_path + std::string(path) + " HTTP/1.1\r\nHost: " +
                              (v6 ? "[" + url.host + "]" : url.host) + ":" + url.port +
                              "\r\nAccept: text/plain;version=0.0.4\r\nUser-Agent: ringserve-top\r\n"
                              "Connection: close\r\n\r\n";
  Status sent = send_all(fd, request, deadline, options);
  Result<std::string> raw = sent.ok() ? receive_all(fd, deadline, options) : Result<std::string>(sent);
  ::close(fd);
  if (!raw.ok()) return raw.status();
  return parse_http_response(*raw);
}

}  // namespace rs::cli
