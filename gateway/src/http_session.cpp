// HttpSession: reading requests, the write queue, SSE chunks and peer watching.
#include "http_session.h"

#include <spdlog/spdlog.h>

#include "gateway_context.h"
#include "router.h"

namespace rs::gateway {

namespace {

std::string head(http::status status, const Headers& headers, bool keep_alive) {
  std::string out = "HTTP/1.1 " + std::to_string(static_cast<int>(status)) + " ";
  out += std::string(http::obsolete_reason(status));
  out += "\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  return out;
}

}  // namespace

std::variant<HttpSession::PlainStream, HttpSession::TlsStream> HttpSession::make_stream(
    tcp::socket socket, GatewayContext& context) {
  if (context.tls == nullptr) return std::variant<PlainStream, TlsStream>(
      std::in_place_type<PlainStream>, std::move(socket));
  return std::variant<PlainStream, TlsStream>(std::in_place_type<TlsStream>, std::move(socket),
                                              *context.tls);
}

HttpSession::HttpSession(tcp::socket socket, GatewayContext& context)
    : stream_(make_stream(std::move(socket), context)),
      context_(context),
      keepalive_(tcp_layer().get_executor()) {}

HttpSession::~HttpSession() {
  context_.sessions.erase(this);
}

void HttpSession::start() {
  context_.sessions.insert(this);
  if (std::holds_alternative<TlsStream>(stream_)) return handshake();
  read_request();
}

// The TLS handshake, within the header timeout. A failure (plain HTTP to this port, a
// client that refuses the certificate, a timeout) is counted and the connection closed.
void HttpSession::handshake() {
  tcp_layer().expires_after(std::chrono::milliseconds(context_.options.header_timeout_ms));
  std::get<TlsStream>(stream_).async_handshake(
      net::ssl::stream_base::server, [self = shared_from_this()](beast::error_code ec) {
        if (self->closed_) return;
        if (ec) {
          if (self->context_.metrics != nullptr) self->context_.metrics->tls_handshake_failed();
          spdlog::debug("gateway: TLS handshake failed: {}", ec.message());
          return self->close();
        }
        self->read_request();
      });
}

void HttpSession::shut_down() {
  shutting_down_ = true;
  keep_alive_ = false;  // the answer in flight says Connection: close
  if (!busy_) close();
}

void HttpSession::read_request() {
  if (closed_) return;
  if (shutting_down_) return close();
  parser_.emplace();
  parser_->header_limit(static_cast<uint32_t>(context_.options.max_header_bytes));
  parser_->body_limit(context_.options.max_body_bytes);
  const bool first = request_.method() == http::verb::unknown && buffer_.size() == 0;
  tcp_layer().expires_after(std::chrono::milliseconds(first ? context_.options.header_timeout_ms
                                                      : context_.options.idle_timeout_ms));
  std::visit(
      [&](auto& s) {
        http::async_read(
            s, buffer_, *parser_,
            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
      },
      stream_);
}

void HttpSession::on_read(beast::error_code ec) {
  if (closed_) return;
  if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
      ec == net::error::operation_aborted || ec == net::error::connection_reset ||
      ec == net::ssl::error::stream_truncated) {
    return close();
  }
  busy_ = true;
  started_ = std::chrono::steady_clock::now();
  route_ = "other";
  keep_alive_ = false;  // an unreadable request ends the connection
  if (ec == http::error::body_limit) {
    return respond_error(too_large("request body over " +
                                   std::to_string(context_.options.max_body_bytes) + " bytes"));
  }
  if (ec == http::error::header_limit) {
    ApiError e = bad_request(
        "", "request headers over " + std::to_string(context_.options.max_header_bytes) + " bytes",
        "headers_too_large");
    e.status = 431;
    return respond_error(e);
  }
  if (ec)
    return respond_error(bad_request("", "malformed HTTP request: " + ec.message(), "bad_http"));
  request_ = parser_->release();
  route_ = route_label(request_.target());
  keep_alive_ = request_.keep_alive() && !shutting_down_;
  tcp_layer().expires_never();
  handle();
}

void HttpSession::handle() {
  route(shared_from_this(), context_);
}

void HttpSession::hold(std::shared_ptr<Exchange> exchange) {
  exchange_ = std::move(exchange);
  watch_peer();
  exchange_->start();
}

// One read outstanding while a response is pending: EOF or an error means the client left.
void HttpSession::watch_peer() {
  if (watching_ || closed_) return;
  watching_ = true;
  auto on_probe = [self = shared_from_this()](beast::error_code ec, size_t n) {
        self->watching_ = false;
        if (self->closed_) return;
        // Bytes of a pipelined next request: keep them for the next read.
        auto space = self->buffer_.prepare(n);
        net::buffer_copy(space, net::buffer(self->probe_.data(), n));
        self->buffer_.commit(n);
        if (self->linger_after_probe_) {
          self->linger_after_probe_ = false;
          return self->linger();
        }
        if (self->read_after_probe_) {  // the response ended and the probe was cancelled
          self->read_after_probe_ = false;
          return self->read_request();
        }
        if (!self->busy_) return;
        if (ec) return self->client_gone();
        self->watch_peer();
  };
  std::visit([&](auto& s) { s.async_read_some(net::buffer(probe_), std::move(on_probe)); },
             stream_);
}

void HttpSession::respond(http::status status, std::string body, const Headers& headers,
                          const char* content_type) {
  if (closed_ || !busy_ || streaming_) return;
  std::string out = head(status, headers, keep_alive_);
  out += "Content-Type: " + std::string(content_type) + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  if (request_.method() != http::verb::head) out += body;
  writes_.emplace_back(std::make_shared<std::string>(std::move(out)), !keep_alive_);
  record(static_cast<int>(status));
  finish_response();
  write_next();
}

void HttpSession::respond_error(const ApiError& error) {
  Headers headers;
  if (error.retry_after_s > 0)
    headers.emplace_back("Retry-After", std::to_string(error.retry_after_s));
  if (error.status == 401) headers.emplace_back("WWW-Authenticate", "Bearer");
  respond(static_cast<http::status>(error.status), error_body(error), headers);
}

void HttpSession::start_stream(const Headers& headers) {
  if (closed_ || !busy_ || streaming_) return;
  streaming_ = true;
  if (context_.metrics != nullptr) {
    context_.metrics->stream_opened();
    stream_counted_ = true;
  }
  std::string out = head(http::status::ok, headers, keep_alive_);
  out += "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\n";
  out += "Transfer-Encoding: chunked\r\n\r\n";
  writes_.emplace_back(std::make_shared<std::string>(std::move(out)), false);
  write_next();
  arm_keepalive();
}

void HttpSession::send_event(std::string text) {
  if (closed_ || !streaming_ || text.empty()) return;
  char size[32];
  std::snprintf(size, sizeof(size), "%zx\r\n", text.size());
  auto chunk = std::make_shared<std::string>(size);
  chunk->append(text);
  chunk->append("\r\n");
  queued_bytes_ += chunk->size();
  if (queued_bytes_ > context_.options.max_stream_buffer_bytes) {
    spdlog::warn("gateway: a client reads too slowly ({} bytes queued): cut off", queued_bytes_);
    return client_gone();
  }
  writes_.emplace_back(std::move(chunk), false);
  write_next();
  arm_keepalive();
}

void HttpSession::end_stream() {
  if (closed_ || !streaming_) return;
  writes_.emplace_back(std::make_shared<std::string>("0\r\n\r\n"), !keep_alive_);
  streaming_ = false;
  if (stream_counted_) {
    stream_counted_ = false;
    context_.metrics->stream_closed();
  }
  record(200);
  keepalive_.cancel();
  finish_response();
  write_next();
}

void HttpSession::finish_response() {
  busy_ = false;
  exchange_.reset();
}

void HttpSession::arm_keepalive() {
  keepalive_.expires_after(std::chrono::milliseconds(context_.options.keepalive_ms));
  keepalive_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || !self->streaming_ || self->closed_) return;
    self->send_event(": keep-alive\n\n");
  });
}

// Everything queued goes out in one gathered write (a stream's head, its opening event and
// its first tokens in one syscall), up to and including a write that closes the connection.
void HttpSession::write_next() {
  if (writing_ || writes_.empty() || closed_) return;
  writing_ = true;
  constexpr size_t kMaxGather = 64;
  std::vector<net::const_buffer> buffers;
  std::vector<std::shared_ptr<std::string>> keep;
  bool close_after = false;
  for (const auto& [bytes, close] : writes_) {
    buffers.push_back(net::buffer(*bytes));
    keep.push_back(bytes);
    close_after = close;
    if (close || buffers.size() == kMaxGather) break;
  }
  in_flight_ = buffers.size();
  auto on_written = [self = shared_from_this(), keep = std::move(keep), close_after](
                        beast::error_code ec, size_t) { self->on_written(ec, close_after); };
  std::visit([&](auto& s) { net::async_write(s, buffers, std::move(on_written)); }, stream_);
}

void HttpSession::on_written(beast::error_code ec, bool close_after) {
  writing_ = false;
  if (closed_) return;
  if (ec) return client_gone();
  for (; in_flight_ > 0 && !writes_.empty(); --in_flight_) {
    queued_bytes_ -= std::min(queued_bytes_, writes_.front().first->size());
    writes_.pop_front();
  }
  if (close_after) return linger();
  if (!writes_.empty()) return write_next();
  if (busy_ || streaming_) return;
  if (watching_) {  // the probe read must end before the next request is read
    read_after_probe_ = true;
    beast::error_code ignored;
    tcp_layer().socket().cancel(ignored);
    return;
  }
  read_request();
}

// After a final response the peer may still be sending (a refused 10 MB body): stop
// writing, read and drop what comes for a bounded time, then close, so the client gets
// to read the response instead of a reset.
void HttpSession::linger() {
  if (closed_) return;
  if (watching_) {  // the probe read ends first (cancelled), then this runs again
    linger_after_probe_ = true;
    beast::error_code ignored;
    tcp_layer().socket().cancel(ignored);
    return;
  }
  beast::error_code ignored;
  tcp_layer().socket().shutdown(tcp::socket::shutdown_send, ignored);
  tcp_layer().expires_after(std::chrono::milliseconds(kLingerMs));  // a deadline for the whole drain
  drain();
}

void HttpSession::drain() {
  auto on_read = [self = shared_from_this()](beast::error_code ec, size_t) {
    if (ec) return self->close();
    self->drain();
  };
  std::visit([&](auto& s) { s.async_read_some(net::buffer(probe_), std::move(on_read)); },
             stream_);
}

void HttpSession::client_gone() {
  if (closed_) return;
  auto exchange = std::move(exchange_);
  close();
  if (exchange) exchange->client_gone();
}

void HttpSession::record(int status) {
  if (context_.metrics == nullptr) return;
  context_.metrics->request_done(
      route_, status,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
}

void HttpSession::close() {
  if (closed_) return;
  closed_ = true;
  if (stream_counted_) {  // the client left mid-stream (nginx's 499)
    stream_counted_ = false;
    context_.metrics->stream_closed();
    record(499);
  }
  streaming_ = false;
  keepalive_.cancel();
  beast::error_code ignored;
  tcp_layer().socket().shutdown(tcp::socket::shutdown_both, ignored);
  tcp_layer().socket().close(ignored);
  context_.sessions.erase(this);
}

}  // namespace rs::gateway
