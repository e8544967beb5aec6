// libFuzzer target: raw bytes from an HTTP client through Boost.Beast's request parser with
// the gateway's limits (16 KiB of header, 4 MiB of body, as HttpSession reads), then the
// headers the router reads (Authorization, Last-Event-ID, X-Ringserve-Background) and the
// body through the completion or chat parser the target path selects.
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "gateway_fuzz.h"

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;
  http::request_parser<http::string_body> parser;
  parser.header_limit(16u << 10);
  parser.body_limit(4u << 20);
  parser.eager(true);
  boost::beast::error_code ec;
  size_t at = 0;
  // Feed in pieces as a socket would, until the message is done or the parser fails.
  while (at < size && !parser.is_done()) {
    const size_t used = parser.put(boost::asio::buffer(data + at, size - at), ec);
    if (ec == http::error::need_more) break;
    if (ec || used == 0) return 0;
    at += used;
  }
  if (!parser.is_done()) {
    parser.put_eof(ec);
    if (ec || !parser.is_done()) return 0;
  }
  const auto& req = parser.get();
  std::string_view target = req.target();
  if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  (void)req.find(http::field::authorization);
  (void)req.find("last-event-id");
  (void)req.find("x-ringserve-background");
  if (req.method() != http::verb::post) return 0;
  if (target == "/v1/completions") rs::fuzz::fuzz_completion_body(req.body());
  if (target == "/v1/chat/completions") rs::fuzz::fuzz_chat_body(req.body());
  return 0;
}
