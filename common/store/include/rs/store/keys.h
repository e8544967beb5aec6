// KeySpace: the Redis key names of ringserve (docs/REDIS.md). One prefix per deployment,
// so several pools (or tests) can share a Redis. A plain value; any thread.
#pragma once

#include <string>
#include <string_view>

namespace rs::store {

struct KeySpace {
  std::string prefix = "rs:";

  std::string job(std::string_view job_id) const;          // HASH   rs:job:<id>
  std::string idempotency(std::string_view key) const;     // STRING rs:idem:<key> -> job id
  std::string tokens(std::string_view job_id) const;       // STREAM rs:tokens:<id>
  std::string dead_letter() const;                         // LIST   rs:dead
};

}  // namespace rs::store
