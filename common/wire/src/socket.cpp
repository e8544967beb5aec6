#include "rs/wire/socket.h"

#include <string>

#include "zmq_status.h"

namespace rs::wire {

Result<zmq::socket_t> make_router(zmq::context_t& context, const RouterOptions& options) {
  try {
    zmq::socket_t socket(context, zmq::socket_type::router);
    socket.set(zmq::sockopt::router_mandatory, options.mandatory);
    socket.set(zmq::sockopt::router_handover, options.handover);
    socket.set(zmq::sockopt::maxmsgsize, options.max_msg_bytes);
    socket.set(zmq::sockopt::sndhwm, options.sndhwm);
    socket.set(zmq::sockopt::rcvhwm, options.rcvhwm);
    socket.set(zmq::sockopt::linger, options.linger_ms);
    if (!options.curve_secret_key.empty()) {
      RS_RETURN_IF_ERROR(set_curve_server(socket, options.curve_secret_key, options.zap_domain));
    }
    return socket;
  } catch (const zmq::error_t& e) {
    return zmq_status(e.num(), "make ROUTER socket");
  }
}

Result<zmq::socket_t> make_dealer(zmq::context_t& context, const DealerOptions& options) {
  try {
    zmq::socket_t socket(context, zmq::socket_type::dealer);
    if (!options.routing_id.empty()) socket.set(zmq::sockopt::routing_id, options.routing_id);
    socket.set(zmq::sockopt::reconnect_ivl, options.reconnect_ivl_ms);
    socket.set(zmq::sockopt::reconnect_ivl_max, options.reconnect_ivl_max_ms);
    socket.set(zmq::sockopt::maxmsgsize, options.max_msg_bytes);
    socket.set(zmq::sockopt::sndhwm, options.sndhwm);
    socket.set(zmq::sockopt::rcvhwm, options.rcvhwm);
    socket.set(zmq::sockopt::linger, options.linger_ms);
    if (options.immediate) socket.set(zmq::sockopt::immediate, 1);
    if (options.curve.enabled()) RS_RETURN_IF_ERROR(set_curve_client(socket, options.curve));
    return socket;
  } catch (const zmq::error_t& e) {
    return zmq_status(e.num(), "make DEALER socket");
  }
}

Result<std::string> bind_endpoint(zmq::socket_t& socket, std::string_view endpoint) {
  const std::string address(endpoint);
  try {
    socket.bind(address);
    return socket.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return zmq_status(e.num(), "bind " + address);
  }
}

Status connect_endpoint(zmq::socket_t& socket, std::string_view endpoint) {
  const std::string address(endpoint);
  try {
    socket.connect(address);
    return {};
  } catch (const zmq::error_t& e) {
    return zmq_status(e.num(), "connect " + address);
  }
}

Status disconnect_endpoint(zmq::socket_t& socket, std::string_view endpoint) {
  const std::string address(endpoint);
  try {
    socket.disconnect(address);
    return {};
  } catch (const zmq::error_t& e) {
    return zmq_status(e.num(), "disconnect " + address);
  }
}

}  // namespace rs::wire
