// Maps ZeroMQ errno values to rs::Status. Pure; any thread.
#pragma once

#include <string_view>

#include "rs/core/status.h"

namespace rs::wire {

// "<what>: <zmq_strerror(errnum)>" with a StatusCode chosen from errnum.
Status zmq_status(int errnum, std::string_view what);
bool is_closed_errno(int errnum);

}  // namespace rs::wire
