// RedisReply: an owned copy of a hiredis reply (string, integer, array, nil, status,
// error), so callers never see hiredis types. A plain value; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rs/core/status.h"

namespace rs::store {

struct RedisReply {
  enum class Type : uint8_t { kNil, kString, kStatus, kError, kInteger, kArray };
  Type type = Type::kNil;
  std::string str;          // kString, kStatus, kError
  int64_t integer = 0;      // kInteger
  std::vector<RedisReply> elements;  // kArray

  bool is_nil() const { return type == Type::kNil; }
  bool is_error() const { return type == Type::kError; }
  bool is_string() const { return type == Type::kString || type == Type::kStatus; }
  bool is_integer() const { return type == Type::kInteger; }
  bool is_array() const { return type == Type::kArray; }
  // ok, or an internal/unavailable Status naming the Redis error ("ERR ...", "LOADING ...").
  Status error_status(std::string_view context) const;
};

}  // namespace rs::store
