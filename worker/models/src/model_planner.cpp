#include "rs/worker/models/model_planner.h"

#include <utility>

namespace rs::worker::models {

const char* plan_op_name(PlanOp op) {
  switch (op) {
    case PlanOp::kVerify: return "verify";
    case PlanOp::kLoad: return "load";
    case PlanOp::kInstall: return "install";
    case PlanOp::kRetire: return "retire";
    case PlanOp::kRelease: return "release";
    case PlanOp::kFail: return "fail";
  }
  return "?";
}

const char* key_state_name(KeyState state) {
  switch (state) {
    case KeyState::kAbsent: return "absent";
    case KeyState::kVerifying: return "verifying";
    case KeyState::kVerified: return "verified";
    case KeyState::kLoading: return "loading";
    case KeyState::kLoaded: return "loaded";
    case KeyState::kServing: return "serving";
    case KeyState::kDraining: return "draining";
    case KeyState::kDrained: return "drained";
    case KeyState::kFailed: return "failed";
  }
  return "?";
}

void ModelPlanner::set_wanted(std::map<std::string, WantedModel> wanted) {
  wanted_ = std::move(wanted);
  has_wanted_ = true;
  // A failed key is retried only after it left the wanted set and came back (activated again).
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = it->second.state == KeyState::kFailed && !this->wanted(it->first) ? entries_.erase(it) : std::next(it);
  }
}

void ModelPlanner::on_verified(const std::string& key) {
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.state == KeyState::kVerifying) it->second.state = KeyState::kVerified;
}

void ModelPlanner::on_loaded(const std::string& key) {
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.state == KeyState::kLoading) it->second.state = KeyState::kLoaded;
}

void ModelPlanner::on_failed(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  if (wanted(key)) {
    it->second.state = KeyState::kFailed;
  } else {
    entries_.erase(it);
  }
}

void ModelPlanner::on_drained(const std::string& key) {
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.state == KeyState::kDraining) it->second.state = KeyState::kDrained;
}

std::vector<PlanAction> ModelPlanner::plan() {
  std::vector<PlanAction> out;
  settle_results(out);
  retire_unwanted(out);
  start_new(out);
  start_loads(out);
  return out;
}

// Loaded keys get installed (or released when no longer wanted), drained keys released,
// a draining key wanted again is installed again (its model is still held).
void ModelPlanner::settle_results(std::vector<PlanAction>& out) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    const std::string& key = it->first;
    Entry& e = it->second;
    const bool w = wanted(key);
    if ((e.state == KeyState::kLoaded || e.state == KeyState::kDraining) && w) {
      out.push_back({PlanOp::kInstall, key, {}});
      e.state = KeyState::kServing;
    } else if ((e.state == KeyState::kLoaded && !w) || e.state == KeyState::kDrained) {
      out.push_back({PlanOp::kRelease, key, {}});
      it = entries_.erase(it);
      continue;
    } else if ((e.state == KeyState::kVerified || e.state == KeyState::kFailed) && !w) {
      it = entries_.erase(it);
      continue;
    }
    ++it;
  }
}

// A served key nobody wants any more is retired once a wanted key of its name serves (so the
// name never goes dark during a swap), or at once when its name has no wanted key at all.
// While the replacement loads, waits for memory, or failed, the old key keeps serving.
void ModelPlanner::retire_unwanted(std::vector<PlanAction>& out) {
  for (auto& [key, e] : entries_) {
    if (e.state != KeyState::kServing || wanted(key)) continue;
    if (name_has_wanted_serving(e.name) || !name_has_wanted(e.name)) {
      out.push_back({PlanOp::kRetire, key, {}});
      e.state = KeyState::kDraining;
    }
  }
}

void ModelPlanner::start_new(std::vector<PlanAction>& out) {
  for (const auto& [key, w] : wanted_) {
    if (entries_.count(key) != 0) continue;
    entries_[key] = Entry{w.name, w.size_bytes, KeyState::kVerifying, false};
    out.push_back({PlanOp::kVerify, key, {}});
  }
}

void ModelPlanner::start_loads(std::vector<PlanAction>& out) {
  for (auto& [key, e] : entries_) {
    if (e.state != KeyState::kVerified || !wanted(key)) continue;
    if (max_bytes_ == 0 || held_bytes() + e.size_bytes <= max_bytes_) {
      out.push_back({PlanOp::kLoad, key, {}});
      e.state = KeyState::kLoading;
      e.blocked = false;
    } else if (e.size_bytes > max_bytes_) {
      out.push_back({PlanOp::kFail, key,
                     "needs " + std::to_string(e.size_bytes) + " bytes, more than --max-model-bytes " +
                         std::to_string(max_bytes_)});
      e.state = KeyState::kFailed;
    } else {
      e.blocked = !make_room(key, out);
    }
  }
}

// Memory-constrained swap: retires unwanted served keys (of the same name first) until the
// key fits once the draining ones are released. true when it already fits (cannot happen
// here: the caller checked), false while it waits.
bool ModelPlanner::make_room(const std::string& key, std::vector<PlanAction>& out) {
  const Entry& target = entries_.at(key);
  uint64_t leaving = bytes_in(KeyState::kDraining) + bytes_in(KeyState::kDrained);
  auto fits = [&] { return held_bytes() - leaving + target.size_bytes <= max_bytes_; };
  for (int pass = 0; pass < 2 && !fits(); ++pass) {
    for (auto& [k, e] : entries_) {
      if (fits()) break;
      if (e.state != KeyState::kServing || wanted(k)) continue;
      if ((pass == 0) != (e.name == target.name)) continue;
      out.push_back({PlanOp::kRetire, k, {}});
      e.state = KeyState::kDraining;
      leaving += e.size_bytes;
    }
  }
  return false;
}

bool ModelPlanner::name_has_wanted_serving(const std::string& name) const {
  for (const auto& [key, e] : entries_) {
    if (e.name == name && e.state == KeyState::kServing && wanted(key)) return true;
  }
  return false;
}

bool ModelPlanner::name_has_wanted(const std::string& name) const {
  for (const auto& [key, w] : wanted_) {
    if (w.name == name) return true;
  }
  return false;
}

uint64_t ModelPlanner::bytes_in(KeyState state) const {
  uint64_t n = 0;
  for (const auto& [key, e] : entries_) {
    if (e.state == state) n += e.size_bytes;
  }
  return n;
}

uint64_t ModelPlanner::held_bytes() const {
  return bytes_in(KeyState::kLoading) + bytes_in(KeyState::kLoaded) + bytes_in(KeyState::kServing) +
         bytes_in(KeyState::kDraining) + bytes_in(KeyState::kDrained);
}

KeyState ModelPlanner::state(const std::string& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? KeyState::kAbsent : it->second.state;
}

std::vector<std::string> ModelPlanner::serving() const {
  std::vector<std::string> out;
  for (const auto& [key, e] : entries_) {
    if (e.state == KeyState::kServing) out.push_back(key);
  }
  return out;
}

std::vector<std::string> ModelPlanner::draining() const {
  std::vector<std::string> out;
  for (const auto& [key, e] : entries_) {
    if (e.state == KeyState::kDraining) out.push_back(key);
  }
  return out;
}

bool ModelPlanner::settled() const {
  if (!has_wanted_) return false;
  for (const auto& [key, e] : entries_) {
    switch (e.state) {
      case KeyState::kVerifying:
      case KeyState::kLoading:
      case KeyState::kLoaded: return false;
      case KeyState::kVerified:
        if (!e.blocked && wanted(key)) return false;
        break;
      default: break;
    }
  }
  return true;
}

}  // namespace rs::worker::models
