// ModelPlanner: decides which model keys a registry-mode worker verifies, loads, installs on
// its devices, retires and releases, from the keys the registry wants (active + canary of
// each served name), what is loaded, what drains, and --max-model-bytes. Pure state machine
// (no threads, sockets or Redis): the worker's I/O thread feeds it events and runs its
// actions. One thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace rs::worker::models {

struct WantedModel {
  std::string name;         // bare model name ("tiny")
  uint64_t size_bytes = 0;  // the file's size: what holding it costs
};

enum class PlanOp {
  kVerify,   // check the file's sha256 against the record (no memory held yet)
  kLoad,     // Model::load (memory held from now on)
  kInstall,  // give every device an engine for the key and advertise it
  kRetire,   // stop advertising; devices drop their engines once the key's jobs drained
  kRelease,  // drop the worker's reference to the model (its memory goes)
  kFail,     // record `reason` in the registry (set_error); the key is not retried
};
const char* plan_op_name(PlanOp op);

struct PlanAction {
  PlanOp op = PlanOp::kVerify;
  std::string key;
  std::string reason;  // kFail only
  bool operator==(const PlanAction&) const = default;
};

enum class KeyState {
  kAbsent,
  kVerifying,
  kVerified,   // checksum good, waiting for memory (or for the next plan)
  kLoading,
  kLoaded,     // loaded, installed at the next plan
  kServing,    // installed and advertised
  kDraining,   // retired, devices still hold engines with jobs
  kDrained,    // no device holds it; released at the next plan
  kFailed,     // verify, load or install failed; not retried while it stays wanted
};
const char* key_state_name(KeyState state);

class ModelPlanner {
 public:
  explicit ModelPlanner(uint64_t max_model_bytes = 0) : max_bytes_(max_model_bytes) {}

  // The registry's wanted keys (key -> name, size). Keys that leave it forget a failure.
  void set_wanted(std::map<std::string, WantedModel> wanted);
  // Results of earlier actions.
  void on_verified(const std::string& key);
  void on_loaded(const std::string& key);
  void on_failed(const std::string& key);   // a verify, load or install failed
  void on_drained(const std::string& key);  // no device holds an engine for it any more

  // The actions to run now, in order; the states move as if they ran.
  std::vector<PlanAction> plan();

  KeyState state(const std::string& key) const;
  std::vector<std::string> serving() const;   // advertised keys, sorted
  std::vector<std::string> draining() const;  // retired keys whose engines may still run
  uint64_t held_bytes() const;                // loading, loaded, serving or draining
  // A wanted set arrived and no verify or load is under way (keys waiting for memory
  // do not count): the worker may send its first READY.
  bool settled() const;
  bool has_wanted() const { return has_wanted_; }

 private:
  struct Entry {
    std::string name;
    uint64_t size_bytes = 0;
    KeyState state = KeyState::kAbsent;
    bool blocked = false;  // kVerified that does not fit yet
  };
  bool wanted(const std::string& key) const { return wanted_.count(key) != 0; }
  bool name_has_wanted_serving(const std::string& name) const;
  bool name_has_wanted(const std::string& name) const;
  void settle_results(std::vector<PlanAction>& out);
  void retire_unwanted(std::vector<PlanAction>& out);
  void start_new(std::vector<PlanAction>& out);
  void start_loads(std::vector<PlanAction>& out);
  bool make_room(const std::string& key, std::vector<PlanAction>& out);
  uint64_t bytes_in(KeyState state) const;

  uint64_t max_bytes_ = 0;
  bool has_wanted_ = false;
  std::map<std::string, WantedModel> wanted_;
  std::map<std::string, Entry> entries_;
};

}  // namespace rs::worker::models
