#include "zmq_status.h"

#include <zmq.h>

#include <cerrno>
#include <string>

namespace rs::wire {

bool is_closed_errno(int errnum) {
  return errnum == ETERM || errnum == ENOTSOCK;
}

Status zmq_status(int errnum, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += zmq_strerror(errnum);
  switch (errnum) {
    case EINVAL:
    case EPROTONOSUPPORT:
    case ENOCOMPATPROTO:
      return invalid_argument(std::move(message));
    case EADDRINUSE:
    case EADDRNOTAVAIL:
    case ENODEV:
      return io_error(std::move(message));
    case ETERM:
    case ENOTSOCK:
    case EHOSTUNREACH:
    case EAGAIN:
      return {StatusCode::kUnavailable, std::move(message)};
    case EMFILE:
    case ENOMEM:
      return resource_exhausted(std::move(message));
    default:
      return internal_error(std::move(message));
  }
}

}  // namespace rs::wire
