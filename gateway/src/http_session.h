// HttpSession: one HTTP/1.1 connection (keep-alive, bounded headers and body, header and
// idle timeouts). It reads a request, hands it to the Router, and writes whatever the
// request's Exchange sends: one whole response, or an SSE stream of chunks with keep-alive
// comments. While a response is pending it watches the socket so a vanished client is seen
// at once. Over TLS (--tls-cert) the same code runs on an SSL stream after a handshake: the
// stream is a variant, and every read and write is visited (one implementation for both).
// Lives on the gateway's Asio thread only.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "api_error.h"
#include "asio.h"

namespace rs::gateway {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Request = http::request<http::string_body>;
using Headers = std::vector<std::pair<std::string, std::string>>;

class HttpSession;
struct GatewayContext;

// What one request turns into once it needs the broker: it gets events from the bridge
// (posted to the Asio thread) and writes to its session while the session lives.
class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual void start() = 0;
  // The client went away (EOF, reset, write error, too slow) before the response ended.
  virtual void client_gone() = 0;
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  // With context.tls set, the connection is TLS: start() does the handshake first.
  HttpSession(tcp::socket socket, GatewayContext& context);
  ~HttpSession();
  void start();
  // Ends the connection after the current response (SIGTERM); idle ones close now.
  void shut_down();

  // For the request's handler (one response per request).
  void respond(http::status status, std::string body, const Headers& headers = {},
               const char* content_type = "application/json");
  void respond_error(const ApiError& error);
  void start_stream(const Headers& headers);  // 200 text/event-stream, chunked
  void send_event(std::string text);          // raw SSE text ("id: ..\ndata: ..\n\n")
  void end_stream();
  void hold(std::shared_ptr<Exchange> exchange);
  // Keeps the connection (and this session) alive while a one-shot answer is pending,
  // watching for the client leaving.
  void await_answer() { watch_peer(); }
  const Request& request() const { return request_; }

 private:
  void handshake();
  void read_request();
  void on_read(beast::error_code ec);
  void handle();
  void write_next();
  void on_written(beast::error_code ec, bool close_after);
  void watch_peer();
  void arm_keepalive();
  void finish_response();
  void client_gone();
  void linger();
  void drain();
  void close();
  void record(int status);  // the request's end, into the metrics

  using PlainStream = beast::tcp_stream;
  using TlsStream = beast::ssl_stream<beast::tcp_stream>;
  static std::variant<PlainStream, TlsStream> make_stream(tcp::socket socket,
                                                          GatewayContext& context);
  // The TCP layer under either stream (timeouts, cancel, shutdown, close).
  beast::tcp_stream& tcp_layer() {
    return std::visit([](auto& s) -> beast::tcp_stream& { return beast::get_lowest_layer(s); },
                      stream_);
  }

  std::variant<PlainStream, TlsStream> stream_;
  GatewayContext& context_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Request request_;
  bool keep_alive_ = false;
  bool busy_ = false;  // a request is being answered
  bool streaming_ = false;
  bool stream_counted_ = false;  // counted in the open-streams gauge
  std::string_view route_ = "other";  // the request's route template (a static string)
  std::chrono::steady_clock::time_point started_;
  bool closed_ = false;
  bool shutting_down_ = false;
  bool writing_ = false;
  bool watching_ = false;
  bool read_after_probe_ = false;
  bool linger_after_probe_ = false;
  static constexpr int kLingerMs = 2000;
  size_t queued_bytes_ = 0;
  std::deque<std::pair<std::shared_ptr<std::string>, bool>> writes_;  // (bytes, close after)
  size_t in_flight_ = 0;  // writes_' first entries in the gathered write under way
  std::shared_ptr<Exchange> exchange_;
  net::steady_timer keepalive_;
  std::array<char, 512> probe_{};
};

}  // namespace rs::gateway
