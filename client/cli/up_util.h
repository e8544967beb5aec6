// Small helpers of `ringserve up`: free loopback ports, finding sibling programs, a Redis
// PING over a plain socket, and scanning a child's log for the line it prints when ready.
// Free functions without shared state; any thread.
#pragma once

#include <optional>
#include <string>

#include "rs/core/result.h"

namespace rs::cli {

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
Result<int> free_loopback_port();

// A program next to the running executable (/proc/self/exe), else on PATH.
// `env_override`, when set in the environment, wins. Error names where it looked.
Result<std::string> find_program(const std::string& name, const char* env_override = nullptr);

// redis-server: RS_REDIS_SERVER, else PATH, else /usr/bin/redis-server.
Result<std::string> find_redis_server();

// True when a Redis server on 127.0.0.1:port answers PING within timeout_ms: +PONG, or
// -NOAUTH from a Redis whose default user is off (it is up all the same).
bool redis_ping(int port, int timeout_ms);

// The rest of the first line of `path` that starts with `prefix` (prefix removed), if any.
std::optional<std::string> find_line(const std::string& path, const std::string& prefix);

// The value of `key=` in a "ready worker=w1 devices=2 model=synth" line ("" if absent).
std::string field_of(const std::string& line, const std::string& key);

}  // namespace rs::cli
