// Result<T>: a value or a non-ok Status, for hot paths that must not throw.
// A plain value type; thread-safety is that of T.
#pragma once

#include <cassert>
#include <utility>
#include <variant>

#include "rs/core/status.h"

namespace rs {

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}                      // NOLINT(google-explicit-constructor)
  Result(Status status) : data_(std::move(status)) { assert(!std::get<Status>(data_).ok()); }  // NOLINT

  bool ok() const { return std::holds_alternative<T>(data_); }
  explicit operator bool() const { return ok(); }

  // The error; an ok Result answers an ok Status.
  Status status() const { return ok() ? Status() : std::get<Status>(data_); }

  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace rs

#define RS_CONCAT_INNER(a, b) a##b
#define RS_CONCAT(a, b) RS_CONCAT_INNER(a, b)
// RS_ASSIGN_OR_RETURN(auto x, make_x()); returns the Status when make_x() failed.
#define RS_ASSIGN_OR_RETURN(lhs, expr) RS_ASSIGN_OR_RETURN_IMPL(RS_CONCAT(rs_result_, __LINE__), lhs, expr)
#define RS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
