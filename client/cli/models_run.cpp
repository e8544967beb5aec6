// The `ringserve models` subcommands: registry changes and reads, plus the broker's view of
// which devices hold which version (loaded_on, and the in-use check of rm).
#include <chrono>
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "model_file_info.h"
#include "models_command.h"
#include "models_format.h"
#include "rs/schemas/errors.h"
#include "rs/schemas/model_ref.h"

namespace rs::cli {

namespace {

uint64_t now_unix_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

void print_line(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

std::string joined_names(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// The broker's view, or an empty one and a note on stderr when no broker answers.
LoadedOn loaded_on_or_note(const CommonOptions& options) {
  auto loaded = ask_loaded_on(options);
  if (loaded.ok()) return std::move(loaded).value();
  std::fprintf(stderr, "note: no broker answered (%s); loaded_on is empty\n",
               schemas::wire_error_message(loaded.status()).c_str());
  return {};
}

void print_versions(const std::vector<store::ModelVersion>& versions, const LoadedOn& loaded,
                    bool json) {
  if (json) {
    for (const auto& m : versions) {
      auto it = loaded.find(schemas::model_key(m.name, m.version));
      std::vector<std::string> where = it == loaded.end() ? std::vector<std::string>{} : it->second;
      std::printf("%s\n", ordered_json_line(model_version_json(m, where)).c_str());
    }
  } else if (versions.empty()) {
    std::printf("no models (add one: ringserve models add NAME FILE --activate)\n");
  } else {
    std::fputs(model_versions_table(versions, loaded).c_str(), stdout);
  }
  std::fflush(stdout);
}

}  // namespace

int run_models_list(const ModelsListArgs& args) {
  const CommonOptions& common = args.options.common;
  auto access = RegistryAccess::open(args.options);
  if (!access.ok()) return report_status(common, access.status());
  store::ModelRegistry& registry = (*access)->registry();
  auto versions = args.name.empty() ? registry.list_all() : registry.list(args.name);
  if (!versions.ok()) return report_status(common, versions.status());
  LoadedOn loaded = versions->empty() ? LoadedOn{} : loaded_on_or_note(common);
  print_versions(*versions, loaded, common.json);
  return kExitOk;
}

int run_models_add(const ModelsAddArgs& args) {
  const CommonOptions& common = args.options.common;
  auto access = RegistryAccess::open(args.options);
  if (!access.ok()) return report_status(common, access.status());
  auto info = inspect_model_file(args.file);
  if (!info.ok()) return report_status(common, info.status());
  store::ModelVersion record;
  record.name = args.name;
  record.path = info->path;
  record.size_bytes = info->size_bytes;
  record.sha256 = info->sha256;
  record.architecture = info->architecture;
  record.tensor_type = info->tensor_type;
  record.created_ms = now_unix_ms();
  record.note = args.note;
  const bool from_file = !args.chat_template_file.empty();
  if (from_file) {
    auto text = read_chat_template_file(args.chat_template_file);
    if (!text.ok()) return report_status(common, text.status());
    record.chat_template = std::move(text).value();
  }
  record.chat = chat_status(*info, record.chat_template, from_file);
  if (from_file && record.chat != "file") {
    return report_status(common, invalid_argument("--chat-template " + args.chat_template_file + ": " +
                                                  record.chat.substr(std::string_view("unavailable: ").size())));
  }
  store::ModelRegistry& registry = (*access)->registry();
  auto version = registry.add_version(record);
  if (!version.ok()) return report_status(common, version.status());
  record.version = *version;
  const std::string key = schemas::model_key(record.name, record.version);
  if (args.activate) {
    if (Status s = registry.activate(record.name, record.version); !s.ok()) {
      return report_error(common, status_code_name(s),
                          "added " + key + " but could not activate it: " + s.message());
    }
    record.active = true;
  }
  if (common.json) {
    print_line(ordered_json_line(model_version_json(record, {})));
  } else {
    print_line(fmt::format("added {} ({}, {}, {}, sha256 {}){}", key, record.architecture,
                           record.tensor_type, size_text(record.size_bytes),
                           record.sha256.substr(0, 12), args.activate ? ", active" : ""));
  }
  return kExitOk;
}

int run_models_activate(const ModelsActivateArgs& args) {
  const CommonOptions& common = args.options.common;
  auto access = RegistryAccess::open(args.options);
  if (!access.ok()) return report_status(common, access.status());
  store::ModelRegistry& registry = (*access)->registry();
  if (Status s = registry.activate(args.name, args.version, args.canary_percent); !s.ok()) {
    return report_status(common, s);
  }
  auto routing = registry.routing(args.name);
  if (!routing.ok()) return report_status(common, routing.status());
  const bool active = routing->active == args.version;
  const uint32_t canary = routing->canary == args.version ? routing->canary_percent : 0;
  const std::string key = schemas::model_key(args.name, args.version);
  if (common.json) {
    nlohmann::ordered_json j{{"name", args.name}, {"version", args.version}, {"active", active},
                             {"canary_percent", canary}};
    print_line(ordered_json_line(j));
  } else if (canary > 0) {
    print_line(fmt::format("{} is the canary for {}% of new sessions (active: {})", key, canary,
                           routing->active > 0 ? schemas::model_key(args.name, routing->active) : "none"));
  } else {
    print_line(key + " active");
  }
  return kExitOk;
}

int run_models_rollback(const ModelsRollbackArgs& args) {
  const CommonOptions& common = args.options.common;
  auto access = RegistryAccess::open(args.options);
  if (!access.ok()) return report_status(common, access.status());
  auto version = (*access)->registry().rollback(args.name);
  if (!version.ok()) return report_status(common, version.status());
  if (common.json) {
    nlohmann::ordered_json j{{"name", args.name}, {"version", *version}, {"active", true}};
    print_line(ordered_json_line(j));
  } else {
    print_line(schemas::model_key(args.name, *version) + " active");
  }
  return kExitOk;
}

// Refused while the registry has it active or canary (the registry checks) or while some
// device holds it (the broker's WORKERS); when no broker answers, a note and go on.
int run_models_remove(const ModelsRemoveArgs& args) {
  const CommonOptions& common = args.options.common;
  auto access = RegistryAccess::open(args.options);
  if (!access.ok()) return report_status(common, access.status());
  store::ModelRegistry& registry = (*access)->registry();
  auto record = registry.get(args.name, args.version);
  if (!record.ok()) return report_status(common, record.status());
  const std::string key = schemas::model_key(args.name, args.version);
  if (!record->active && record->canary_percent == 0) {
    auto loaded = ask_loaded_on(common);
    if (!loaded.ok()) {
      std::fprintf(stderr, "note: cannot ask the broker whether %s is loaded (%s); removing it anyway\n",
                   key.c_str(), schemas::wire_error_message(loaded.status()).c_str());
    } else if (auto it = loaded->find(key); it != loaded->end()) {
      return report_error(common, "invalid_argument",
                          "model " + key + ": refused, the version is in use (loaded on " +
                              joined_names(it->second) + "); try again once the workers released it");
    }
  }
  if (Status s = registry.remove(args.name, args.version); !s.ok()) return report_status(common, s);
  if (common.json) {
    nlohmann::ordered_json j{{"name", args.name}, {"version", args.version}, {"removed", true}};
    print_line(ordered_json_line(j));
  } else {
    print_line("removed " + key);
  }
  return kExitOk;
}

}  // namespace rs::cli
