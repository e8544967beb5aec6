// The HTTP client of `ringserve top`: a blocking GET over one TCP connection per request
// (Connection: close), bounded by a deadline and a size limit, cancellable through a flag.
// No TLS, no redirects, no keep-alive; host names are resolved with getaddrinfo (not bound
// by the deadline: use addresses or names from /etc/hosts). Free functions without shared
// state: any thread; parse_* are pure.
#pragma once

#include <atomic>
#include <cstddef>
#include <string>
#include <string_view>

#include "rs/core/result.h"

namespace rs::cli {

// http://HOST[:PORT][/PATH]: HOST a name, an IPv4 address or [IPv6]; PORT default 80.
// A PATH ending in /metrics is the endpoint's own path: the base is what precedes it.
struct HttpUrl {
  std::string host;
  std::string port;
  std::string base_path;  // "" or "/prefix" (no trailing '/')
};
Result<HttpUrl> parse_http_url(std::string_view url);

struct HttpReply {
  int status = 0;
  std::string body;  // de-chunked
};

// A whole response (status line, headers, body): Content-Length, chunked, or up to the end
// of `raw` (the peer closed). invalid_argument for anything malformed or cut short.
Result<HttpReply> parse_http_response(std::string_view raw);

struct HttpGetOptions {
  int timeout_ms = 2000;                         // connect + send + receive, in all
  size_t max_bytes = (16u << 20) + (64u << 10);  // the response, head included
  const std::atomic<bool>* stop = nullptr;       // when set and true: give up (cancelled)
};

// GET base_path + path. Errors: unavailable (refused, unreachable, timed out: the message
// says which), resource_exhausted (over max_bytes), invalid_argument (not HTTP), cancelled.
Result<HttpReply> http_get(const HttpUrl& url, std::string_view path, const HttpGetOptions& options);

}  // namespace rs::cli
