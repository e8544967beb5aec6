// BrokerLoop: the state's StoreReader reads. Each runs on the reader's thread and
// connection and comes back to the state as an event when the loop drains the reader
// (the loop never waits on one): the model registry by epoch, ingest entries (parsed
// there), and at start the live jobs with their token logs (docs/BROKER.md "Ingest",
// "Restarts", "Models").
#include <spdlog/spdlog.h>

#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "rs/broker/loop/broker_loop.h"
#include "rs/schemas/errors.h"
#include "rs/store/batch_streams.h"
#include "rs/store/job_store.h"
#include "rs/store/model_registry.h"
#include "rs/store/token_log.h"
#include "store_reader.h"

namespace rs::broker {
namespace {

constexpr size_t kLogReadsPerPipeline = 512;  // like JobStore::load_live's chunks

// Every version (not only the routing) so that a pinned SUBMIT of a version nobody has
// loaded yet is known. A change between the two reads shows as a new epoch next poll.
void read_registry_models(store::ModelRegistry& registry, const ReadRegistry& in,
                          RegistryRead& out) {
  auto epoch = registry.epoch();
  if (!epoch.ok()) {
    out.status = epoch.status();
    return;
  }
  out.epoch = *epoch;
  if (in.known_epoch && *in.known_epoch == out.epoch) return;
  auto versions = registry.list_all();
  if (!versions.ok()) {
    out.status = versions.status();
    return;
  }
  out.changed = true;
  for (const store::ModelVersion& v : *versions) {
    if (out.models.empty() || out.models.back().name != v.name) {
      out.models.push_back(RegistryModel{.name = v.name});
    }
    RegistryModel& m = out.models.back();
    m.versions.push_back(v.version);
    if (v.active) m.active = v.version;
    if (v.canary_percent > 0) {
      m.canary = v.version;
      m.canary_percent = v.canary_percent;
    }
  }
}

// An entry as the state takes it: parsed, or what a bad one still says about itself (its
// job fails at once, and the entry is acked with it).
IngestJob ingest_job(store::IngestEntry& e) {
  auto parsed = store::ingest_from_fields(e.entry_id, e.fields);
  if (parsed.ok()) {
    store::IngestItem& item = *parsed;
    return IngestJob{.entry_id = std::move(e.entry_id), .request = std::move(item.request),
                     .batch = std::move(item.batch), .item_id = std::move(item.item_id)};
  }
  IngestJob job{.entry_id = e.entry_id,
                .parse_error = schemas::wire_error(schemas::ErrorCode::kInvalidArgument,
                                                   parsed.status().message())};
  job.request = store::ingest_request_defaults();
  for (const auto& [f, v] : e.fields) {
    if (f == "batch") job.batch = v;
    else if (f == "id") job.item_id = v;
    else if (f == "model") job.request.model = v;
    else if (f == "prompt") job.request.prompt = v;
    else if (f == "idempotency_key") job.request.idempotency_key = v;
  }
  return job;
}

// Our own unacked entries from a previous life first (until they are all read), then
// stale entries of any consumer when a claim is due (with a trim of the acknowledged
// ones), else new entries.
void run_ingest_read(store::IngestStream& stream, IngestRead& r) {
  ReadIngest& a = r.asked;
  auto take = [&](Result<std::vector<store::IngestEntry>> got) {
    ++r.round_trips;
    if (!got.ok()) {
      r.status = got.status();
      return false;
    }
    for (store::IngestEntry& e : *got) r.entries.push_back(ingest_job(e));
    return true;
  };
  if (!a.group_ready) {
    r.status = stream.ensure_group();
    if (!r.status.ok()) return;
    a.group_ready = true;
  }
  if (!a.own_pending_done) {
    if (!take(stream.read_own_pending(a.own_cursor, a.room))) return;
    if (r.entries.size() < a.room) a.own_pending_done = true;
    if (!r.entries.empty()) {
      a.own_cursor = r.entries.back().entry_id;
      return;
    }
  }
  if (a.claim) {
    if (!take(stream.claim_stale(a.claim_ms, a.room))) return;
    auto trimmed = stream.trim_acknowledged();  // best effort (retention)
    ++r.round_trips;
    if (trimmed.ok()) r.trimmed = *trimmed;
    r.claimed = r.entries.size();
    if (!r.entries.empty()) return;
  }
  take(stream.read(a.room));
}

// The live jobs, then the token logs of those dispatched before (attempt >= 1).
void read_live(store::RedisConnection& conn, const std::string& prefix, int64_t ttl_s,
               size_t max_tokens, LiveRead& r) {
  store::JobStoreOptions jo;
  jo.keys.prefix = prefix;
  store::JobStore jobs(conn, jo);
  auto live = jobs.load_live(&r.skipped);
  ++r.round_trips;
  if (!live.ok()) {
    r.jobs = live.status();
    return;
  }
  std::vector<StoredLiveJob> out;
  out.reserve(live->size());
  for (store::StoredJob& s : *live) {
    if (s.record.attempt >= 1) r.logged.push_back(s.record.job_id);
    out.push_back(StoredLiveJob{.record = std::move(s.record), .request = std::move(s.request),
                                .batch = std::move(s.batch), .item_id = std::move(s.item_id)});
  }
  r.jobs = std::move(out);
  if (r.logged.empty()) return;
  store::TokenLogOptions lo;
  lo.keys.prefix = prefix;
  lo.finished_ttl_s = ttl_s;
  store::TokenLog log(conn, lo);
  for (store::TokenPrefix& p : log.read_prefixes(r.logged, max_tokens, kLogReadsPerPipeline,
                                                 &r.round_trips)) {
    r.logs.push_back(LogPrefix{.tokens = std::move(p.tokens), .text = std::move(p.text),
                               .status = std::move(p.status)});
  }
}

}  // namespace

void BrokerLoop::read(ReaderTask task) {
  const std::string prefix = options_.key_prefix;
  std::visit(
      [&](auto& t) {
        using T = std::decay_t<decltype(t)>;
        if constexpr (std::is_same_v<T, ReadRegistry>) {
          auto out = std::make_shared<RegistryRead>();
          reader_->submit(
              [out, t, prefix](store::RedisConnection& conn) {
                store::ModelRegistryOptions mo;
                mo.keys.prefix = prefix;
                store::ModelRegistry registry(conn, mo);
                read_registry_models(registry, t, *out);
              },
              [this, out] { state_->on_registry_read(std::move(*out)); });
        } else if constexpr (std::is_same_v<T, ReadIngest>) {
          auto out = std::make_shared<IngestRead>(IngestRead{.asked = std::move(t)});
          reader_->submit(
              [out, prefix, consumer = options_.broker_id](store::RedisConnection& conn) {
                store::IngestOptions io;
                io.keys.prefix = prefix;
                io.consumer = consumer;
                store::IngestStream stream(conn, io);
                run_ingest_read(stream, *out);
              },
              [this, out] { state_->on_ingest_read(std::move(*out)); });
        } else {
          auto out = std::make_shared<LiveRead>();
          reader_->submit(
              [out, prefix, ttl = options_.finished_ttl_s,
               max_tokens = t.max_tokens](store::RedisConnection& conn) {
                read_live(conn, prefix, ttl, max_tokens, *out);
              },
              [this, out] { state_->on_live_read(std::move(*out)); });
        }
      },
      task);
}

Status BrokerLoop::read_registry_now() {
  store::ModelRegistryOptions mo;
  mo.keys.prefix = options_.key_prefix;
  store::ModelRegistry registry(*redis_, mo);
  RegistryRead read;
  read_registry_models(registry, ReadRegistry{}, read);
  Status status = read.status;
  state_->on_registry_read(std::move(read));
  return status;
}

}  // namespace rs::broker
