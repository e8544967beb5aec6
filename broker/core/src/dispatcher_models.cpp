// Dispatcher: model versions. Jobs queue by model reference ("tiny", "tiny@2"); rings are
// by model key; the key a job runs on is resolved by the ModelCatalog when it is placed.
// Also: heartbeat model lists, registry changes, the model wait, and the interactive
// reserve of batch priority (docs/BROKER.md).
#include <algorithm>
#include <functional>
#include <string>
#include <utility>

#include "dispatcher_actions.h"
#include "rs/broker/dispatcher.h"
#include "rs/schemas/model_ref.h"

namespace rs::broker {

namespace {

// How deep a drain looks past a head job whose version has no room, when other versions
// of the same name are served (bounds the cost of one drain).
constexpr size_t kMaxDrainScan = 256;

schemas::ModelRef split_ref(const ModelName& ref) {
  if (auto parsed = schemas::parse_model_ref(ref)) return *parsed;
  return schemas::ModelRef{ref, 0};
}

void push_unique(std::vector<ModelName>& v, const ModelName& s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

// The devices' load as an interactive job sees it when none has a free slot: a device may
// take up to `reserve` jobs past its slots as long as it runs fewer interactive jobs than
// slots, i.e. it holds a batch job its engine can preempt to admit this one. A device with
// no slots takes none.
class ReserveLoadView final : public DeviceLoadView {
 public:
  using IsBatch = std::function<bool(const JobId&)>;
  ReserveLoadView(const WorkerTable& workers, uint32_t reserve, IsBatch is_batch)
      : workers_(workers), reserve_(reserve), is_batch_(std::move(is_batch)) {}
  uint32_t in_flight(const DeviceKey& device) const override {
    return workers_.in_flight(device);
  }
  uint32_t free_slots(const DeviceKey& device) const override {
    const DeviceState* d = workers_.device(device);
    if (d == nullptr || d->slots == 0) return 0;
    const uint64_t cap = static_cast<uint64_t>(d->slots) + reserve_;
    if (d->jobs.size() >= cap) return 0;
    const auto n_batch =
        static_cast<uint64_t>(std::count_if(d->jobs.begin(), d->jobs.end(), is_batch_));
    const uint64_t n_interactive = d->jobs.size() - n_batch;
    if (n_interactive >= d->slots) return 0;
    return static_cast<uint32_t>(std::min(cap - d->jobs.size(), d->slots - n_interactive));
  }

 private:
  const WorkerTable& workers_;
  uint32_t reserve_;
  IsBatch is_batch_;
};

// Whether a job in flight is a batch job, from the Dispatcher's live jobs.
ReserveLoadView::IsBatch batch_test(const JobTable& jobs) {
  return [&jobs](const JobId& id) {
    const JobEntry* e = jobs.find(id);
    return e != nullptr && e->spec.priority == Priority::kBatch;
  };
}

// Batch priority (docs/BROKER.md): a device with a free slot first; when none has one, an
// interactive job may still go over the slots (ReserveLoadView); batch jobs never do.
std::optional<DeviceKey> route_job(const Router& router, const WorkerTable& workers,
                                   uint32_t reserve, const ModelName& key, const JobSubmit& spec,
                                   const ReserveLoadView::IsBatch& is_batch) {
  std::optional<DeviceKey> device = router.route(key, spec.route_key, workers);
  if (device || spec.priority != Priority::kInteractive || reserve == 0) return device;
  return router.route(key, spec.route_key, ReserveLoadView(workers, reserve, is_batch));
}

}  // namespace

ModelTarget Dispatcher::target_of(const JobSubmit& job) {
  schemas::ModelRef ref = split_ref(job.model);
  return ModelTarget{.name = std::move(ref.name), .pinned = ref.version,
                     .session_id = job.session_id, .route_key = job.route_key};
}

std::optional<std::pair<DeviceKey, ResolvedModel>> Dispatcher::place(const JobEntry& job) const {
  std::optional<ResolvedModel> model = catalog_.resolve(job.target);
  if (!model) return std::nullopt;
  std::optional<DeviceKey> device =
      route_job(router_, workers_, options_.router.interactive_reserve, model->key, job.spec,
                batch_test(jobs_));
  if (!device) return std::nullopt;
  return std::make_pair(*device, std::move(*model));
}

void Dispatcher::dispatch(const JobId& job, const DeviceKey& device, const ResolvedModel& model,
                          Actions& out, int64_t enqueued_ns) {
  workers_.assign(device, job);
  jobs_.set_dispatched(job, device);
  JobEntry& live = *jobs_.find(job);
  live.dispatched_key = model.key;
  if (live.target.pinned == 0) {
    catalog_.record_session(live.target.name, live.target.session_id, model.version);
  }
  Action a = make_device_action(ActionKind::kDispatch, job, device, live.attempt);
  a.model_key = model.key;
  a.model_version = model.version;
  a.enqueued_ns = enqueued_ns;
  out.push_back(std::move(a));
}

// Head first until the head cannot be placed. Routing fails for one key only when none of
// its devices has room, so with a single served key the first failure ends the drain; an
// unpinned queue whose name has several served keys is scanned further (drain_scan).
// Nothing while dispatch is paused.
void Dispatcher::drain(const ModelName& ref, Actions& out) {
  if (paused_) return;  // set_dispatch_paused: resuming drains every queue
  while (const QueuedJob* head = queue_.peek(ref)) {
    const JobEntry* live = jobs_.find(head->id);
    if (live == nullptr) {  // cannot happen: queued jobs are live
      queue_.pop(ref);
      continue;
    }
    auto placed = place(*live);
    if (!placed) {
      const std::set<uint32_t>* served = catalog_.served_versions(live->target.name);
      if (live->target.pinned == 0 && served != nullptr && served->size() > 1) {
        drain_scan(ref, out);
      }
      return;
    }
    JobId id = head->id;
    const int64_t enqueued_ns = head->enqueued_ns;
    queue_.pop(ref);
    dispatch(id, placed->first, placed->second, out, enqueued_ns);
  }
}

// Looks at up to kMaxDrainScan queued jobs in order, placing each whose key still has room;
// stops once every served key of the name was found full.
void Dispatcher::drain_scan(const ModelName& ref, Actions& out) {
  std::vector<JobId> ids = queue_.ids(ref, kMaxDrainScan);
  std::vector<ModelName> full;
  for (const JobId& id : ids) {
    const JobEntry* live = jobs_.find(id);
    if (live == nullptr) continue;
    const std::set<uint32_t>* served = catalog_.served_versions(live->target.name);
    if (served == nullptr || full.size() >= served->size()) return;
    std::optional<ResolvedModel> model = catalog_.resolve(live->target);
    if (!model || std::find(full.begin(), full.end(), model->key) != full.end()) continue;
    std::optional<DeviceKey> device =
        route_job(router_, workers_, options_.router.interactive_reserve, model->key,
                  live->spec, batch_test(jobs_));
    if (!device) {
      full.push_back(model->key);
      continue;
    }
    std::optional<QueuedJob> queued = queue_.remove(id);
    dispatch(id, *device, *model, out, queued ? queued->enqueued_ns : clock_.now_ns());
  }
}

// A device gained room: its pinned queues ("tiny@2") and its names' queues ("tiny").
void Dispatcher::drain_device(const DeviceKey& device, Actions& out) {
  const DeviceState* state = workers_.device(device);
  if (state == nullptr) return;
  std::vector<ModelName> refs;
  for (const ModelName& key : state->models) {
    schemas::ModelRef ref = split_ref(key);
    if (ref.version != 0) push_unique(refs, key);
  }
  for (const ModelName& key : state->models) push_unique(refs, split_ref(key).name);
  for (const ModelName& ref : refs) drain(ref, out);
}

void Dispatcher::drain_all(Actions& out) {
  for (const ModelName& ref : queue_.models()) drain(ref, out);
}

void Dispatcher::route_on(const ModelName& key, const DeviceKey& device) {
  if (router_.add_device(key, device) && catalog_.set_served(key, true)) {
    refresh_model_waits(split_ref(key).name);
  }
}

void Dispatcher::route_off(const ModelName& key, const DeviceKey& device) {
  if (router_.remove_device(key, device) && catalog_.set_served(key, router_.serves(key))) {
    refresh_model_waits(split_ref(key).name);
  }
}

void Dispatcher::forget_device_key(const DeviceKey& device, const ModelName& key) {
  const DeviceState* state = workers_.device(device);
  if (state == nullptr) return;
  std::vector<ModelName> models = state->models;
  std::erase(models, key);
  workers_.set_models(device, std::move(models));
  route_off(key, device);
}

// A key of name became served or unserved: arm the model wait of the name's queues that
// nobody can serve now, disarm the others.
void Dispatcher::refresh_model_waits(const ModelName& name) {
  std::vector<ModelName> refs = queue_.models();
  for (const ModelName& armed : queue_.armed_models()) push_unique(refs, armed);
  for (const ModelName& ref : refs) {
    schemas::ModelRef parsed = split_ref(ref);
    if (parsed.name != name) continue;
    if (catalog_.resolvable(parsed.name, parsed.version)) queue_.disarm_model_wait(ref);
    else queue_.arm_model_wait(ref);
  }
}

void Dispatcher::note_queued(const ModelName& ref) {
  if (queue_.model_wait_armed(ref)) return;
  schemas::ModelRef parsed = split_ref(ref);
  if (!catalog_.resolvable(parsed.name, parsed.version)) queue_.arm_model_wait(ref);
}

Actions Dispatcher::on_device_models(const DeviceKey& device, const std::vector<ModelName>& keys) {
  Actions out;
  const DeviceState* state = workers_.device(device);
  if (state == nullptr) return out;
  std::vector<ModelName> next;
  for (const ModelName& key : keys) push_unique(next, key);
  if (next == state->models) return out;  // the usual heartbeat: nothing changed
  std::vector<ModelName> old = state->models;
  workers_.set_models(device, next);
  for (const ModelName& key : old) {
    if (std::find(next.begin(), next.end(), key) == next.end()) route_off(key, device);
  }
  for (const ModelName& key : next) {
    if (std::find(old.begin(), old.end(), key) == old.end()) route_on(key, device);
  }
  drain_all(out);
  return out;
}

Actions Dispatcher::on_registry(std::vector<RegistryModel> models) {
  Actions out;
  catalog_.set_registry(std::move(models));
  drain_all(out);
  return out;
}

void Dispatcher::fail_expired(Actions& out) {
  for (QueuedJob& job : queue_.take_model_wait_expired()) {
    out.push_back(make_action(ActionKind::kFail, job.id, job.attempt, Reason::kModelUnavailable,
                              "no device served model '" + job.model + "' for " +
                                  std::to_string(options_.queue.model_wait_ms) + " ms"));
    finish(job.id);
  }
  const int64_t now = clock_.now_ns();
  for (QueuedJob& job : queue_.take_expired()) {
    schemas::ModelRef ref = split_ref(job.model);
    if (job.expired(now)) {
      out.push_back(make_action(ActionKind::kFail, job.id, job.attempt, Reason::kExpired,
                                "still queued at its expiry: never run"));
    } else if (catalog_.resolvable(ref.name, ref.version)) {
      out.push_back(make_action(ActionKind::kFail, job.id, job.attempt, Reason::kQueueTimeout,
                                "waited " + std::to_string(options_.queue.wait_timeout_ms) +
                                    " ms for a device"));
    } else {
      out.push_back(make_action(ActionKind::kFail, job.id, job.attempt, Reason::kModelUnavailable,
                                "no device serves model '" + job.model + "'"));
    }
    finish(job.id);
  }
}

}  // namespace rs::broker
