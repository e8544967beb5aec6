// Building Dispatcher Actions (dispatcher.cpp, dispatcher_models.cpp). Pure helpers.
#pragma once

#include <string>
#include <utility>

#include "rs/broker/dispatcher.h"

namespace rs::broker {

inline Action make_action(ActionKind kind, const JobId& job, uint32_t attempt = 0,
                          Reason reason = Reason::kNone, std::string detail = {}) {
  Action a;
  a.kind = kind;
  a.job = job;
  a.attempt = attempt;
  a.reason = reason;
  a.detail = std::move(detail);
  return a;
}

inline Action make_device_action(ActionKind kind, const JobId& job, const DeviceKey& device,
                                 uint32_t attempt, std::string detail = {}) {
  Action a = make_action(kind, job, attempt, Reason::kNone, std::move(detail));
  a.device = device;
  return a;
}

}  // namespace rs::broker
