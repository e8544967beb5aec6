// Gateway: the acceptor, the Asio thread, the bridge and key threads, graceful stop.
#include "rs/gateway/gateway.h"

#include <spdlog/spdlog.h>

#include "asio.h"
#include "gateway_context.h"
#include "http_session.h"
#include "tls_context.h"
#include "rs/store/api_keys.h"
#include "rs/store/redis_auth.h"
#include "rs/store/redis_connection.h"

namespace rs::gateway {

// Members are destroyed bottom-up: the io_context first, whose pending handlers hold the
// last sessions and exchanges; their destructors still use the context and the bridge.
struct Gateway::Impl {
  GatewayOptions options;
  std::unique_ptr<store::RedisConnection> redis;  // used by the key thread only
  std::unique_ptr<store::ApiKeys> api_keys;
  std::unique_ptr<KeyCache> keys;
  std::unique_ptr<BrokerBridge> bridge;
  std::unique_ptr<GatewayMetrics> metrics;
  std::unique_ptr<net::ssl::context> tls;  // with --tls-cert / --tls-key
  std::unique_ptr<GatewayContext> context;
  net::io_context io{1};
  tcp::acceptor acceptor{io};
  net::steady_timer drain_timer{io};
  int drain_deadline_ms = 0;
  static constexpr int kDrainPollMs = 20;
  bool stopping = false;

  void accept();
  void begin_stop();
  void poll_drained();
};

void cancel_after_grace(GatewayContext& context, const std::string& job_id) {
  auto timer = std::make_shared<net::steady_timer>(context.io);
  timer->expires_after(std::chrono::milliseconds(context.options.disconnect_grace_ms));
  timer->async_wait([timer, &context, job_id](beast::error_code ec) {
    if (ec) return;
    if (context.watchers.count(job_id) != 0) return;  // resumed here in time
    spdlog::info("gateway: client of job {} gone for {} ms: cancelling it", job_id,
                 context.options.disconnect_grace_ms);
    if (context.metrics != nullptr) context.metrics->disconnect_cancel();
    BridgeCommand cmd;
    cmd.kind = BridgeCommand::Kind::kCancel;
    cmd.job_id = job_id;
    context.bridge.post(std::move(cmd));
  });
}

Gateway::Gateway(GatewayOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

Gateway::~Gateway() {
  if (impl_->keys) impl_->keys->stop();
  if (impl_->bridge) impl_->bridge->stop();
}

Status Gateway::start() {
  Impl& im = *impl_;
  if (im.options.broker_endpoint.empty()) return invalid_argument("gateway: no broker endpoint");
  if (im.options.tls_cert.empty() != im.options.tls_key.empty())
    return invalid_argument("gateway: --tls-cert and --tls-key go together");
  if (!im.options.tls_cert.empty()) {
    RS_ASSIGN_OR_RETURN(im.tls, make_tls_context(im.options.tls_cert, im.options.tls_key));
  }
  if (!im.options.no_auth) {
    if (im.options.redis.empty())
      return invalid_argument("gateway: API keys need --redis (or --no-auth)");
    RS_ASSIGN_OR_RETURN(auto redis_options,
                        store::startup_redis_options({.address = im.options.redis,
                                                      .user = im.options.redis_user,
                                                      .password_file = im.options.redis_password_file}));
    im.redis = std::make_unique<store::RedisConnection>(redis_options);
    im.api_keys = std::make_unique<store::ApiKeys>(*im.redis);
    store::ApiKeys* api = im.api_keys.get();
    KeySource source{.version = [api] { return api->version(); },
                     .load = [api]() -> Result<KeyTable> { return api->load_all(); },
                     .hash = [](std::string_view key) { return store::api_key_hash(key); }};
    im.keys = std::make_unique<KeyCache>(std::move(source), 200);
    RS_RETURN_IF_ERROR(im.keys->start());
  }
  client::ClientOptions co;
  co.endpoint = im.options.broker_endpoint;
  co.curve = im.options.broker_curve;
  co.request_timeout_ms = im.options.request_timeout_ms;
  im.bridge = std::make_unique<BrokerBridge>(
      co, BridgeOptions{.request_timeout_ms = im.options.request_timeout_ms});
  BrokerBridge* bridge = im.bridge.get();
  im.metrics = std::make_unique<GatewayMetrics>([bridge] { return bridge->broker_up(); });
  im.context = std::make_unique<GatewayContext>(GatewayContext{.io = im.io,
                                                               .options = im.options,
                                                               .bridge = *im.bridge,
                                                               .keys = im.keys.get(),
                                                               .tls = im.tls.get(),
                                                               .metrics = im.metrics.get()});
  beast::error_code ec;
  const tcp::endpoint endpoint(net::ip::make_address(im.options.host, ec), im.options.port);
  if (ec) return invalid_argument("gateway: bad --host '" + im.options.host + "': " + ec.message());
  im.acceptor.open(endpoint.protocol(), ec);
  if (!ec) im.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) im.acceptor.bind(endpoint, ec);
  if (!ec) im.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return Status(StatusCode::kIoError, "gateway: cannot listen on " + im.options.host + ":" +
                                            std::to_string(im.options.port) + ": " + ec.message());
  return im.bridge->start();
}

metrics::Registry* Gateway::metrics_registry() {
  return impl_->metrics != nullptr ? &impl_->metrics->registry() : nullptr;
}

metrics::Readiness Gateway::readiness() const {
  if (impl_->bridge == nullptr || !impl_->bridge->broker_up()) {
    return {.ready = false, .reason = "broker_unreachable",
            .detail = "the broker does not answer at " + impl_->options.broker_endpoint};
  }
  return {};
}

uint16_t Gateway::port() const {
  beast::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void Gateway::Impl::accept() {
  acceptor.async_accept(net::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
    if (stopping) return;
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);
      std::make_shared<HttpSession>(std::move(socket), *context)->start();
    } else if (ec != net::error::operation_aborted) {
      spdlog::warn("gateway: accept: {}", ec.message());  // e.g. EMFILE: try again shortly
    }
    accept();
  });
}

// Stop accepting, close idle connections, let answers in flight end within drain_ms.
void Gateway::Impl::begin_stop() {
  if (stopping) return;
  stopping = true;
  beast::error_code ignored;
  acceptor.close(ignored);
  std::vector<HttpSession*> sessions(context->sessions.begin(), context->sessions.end());
  for (HttpSession* s : sessions) s->shut_down();
  drain_deadline_ms = options.drain_ms;
  poll_drained();
}

// Every 20 ms until no session is left or drain_ms passed, then the loop stops.
void Gateway::Impl::poll_drained() {
  if (context->sessions.empty() || drain_deadline_ms <= 0) return io.stop();
  drain_deadline_ms -= kDrainPollMs;
  drain_timer.expires_after(std::chrono::milliseconds(kDrainPollMs));
  drain_timer.async_wait([this](beast::error_code ec) {
    if (!ec) poll_drained();
  });
}

Status Gateway::run() {
  impl_->accept();
  impl_->io.run();
  if (impl_->bridge) impl_->bridge->stop();
  if (impl_->keys) impl_->keys->stop();
  return Status();
}

void Gateway::stop() {
  net::post(impl_->io, [im = impl_.get()] { im->begin_stop(); });
}

}  // namespace rs::gateway
