// Registers `ringserve models` and its subcommands (list, add, activate, rollback, rm).
#include "models_command.h"

#include <limits>
#include <memory>

#include "commands.h"

namespace rs::cli {

namespace {

constexpr uint32_t kMaxVersion = std::numeric_limits<uint32_t>::max();

void add_list(CLI::App& models) {
  auto args = std::make_shared<ModelsListArgs>();
  CLI::App* sub = models.add_subcommand("list", "list every version (of one name, or of all)");
  sub->add_option("name", args->name, "model name (default: every name)");
  add_models_options(*sub, args->options);
  sub->callback([args] { exit_code() = run_models_list(*args); });
}

void add_add(CLI::App& models) {
  auto args = std::make_shared<ModelsAddArgs>();
  CLI::App* sub = models.add_subcommand(
      "add", "register a GGUF file as the next version of a name (checksum, architecture, type)");
  sub->add_option("name", args->name, "model name (1-128 of A-Z a-z 0-9 . _ -)")->required();
  sub->add_option("file", args->file, "the GGUF file (recorded by absolute path)")->required();
  sub->add_flag("--activate", args->activate, "make the new version the active one");
  sub->add_option("--note", args->note, "free text kept with the version");
  sub->add_option("--chat-template", args->chat_template_file,
                  "a Jinja chat template file for this version, replacing the GGUF's own");
  add_models_options(*sub, args->options);
  sub->callback([args] { exit_code() = run_models_add(*args); });
}

void add_activate(CLI::App& models) {
  auto args = std::make_shared<ModelsActivateArgs>();
  CLI::App* sub = models.add_subcommand(
      "activate", "make a version the active one (or, with --canary, the canary)");
  sub->add_option("name", args->name, "model name")->required();
  sub->add_option("version", args->version, "version number")->required()->check(CLI::Range(1u, kMaxVersion));
  sub->add_option("--canary", args->canary_percent,
                  "send this share (1-99 %) of new sessions to the version; the active one stays")
      ->check(CLI::Range(1u, 100u));
  add_models_options(*sub, args->options);
  sub->callback([args] { exit_code() = run_models_activate(*args); });
}

void add_rollback(CLI::App& models) {
  auto args = std::make_shared<ModelsRollbackArgs>();
  CLI::App* sub = models.add_subcommand(
      "rollback", "withdraw the canary, else reactivate the previous active version");
  sub->add_option("name", args->name, "model name")->required();
  add_models_options(*sub, args->options);
  sub->callback([args] { exit_code() = run_models_rollback(*args); });
}

void add_remove(CLI::App& models) {
  auto args = std::make_shared<ModelsRemoveArgs>();
  CLI::App* sub = models.add_subcommand(
      "rm", "delete a version (refused while active, canary, or loaded on a device)");
  sub->add_option("name", args->name, "model name")->required();
  sub->add_option("version", args->version, "version number")->required()->check(CLI::Range(1u, kMaxVersion));
  add_models_options(*sub, args->options);
  sub->callback([args] { exit_code() = run_models_remove(*args); });
}

}  // namespace

void add_models_command(CLI::App& app) {
  CLI::App* models = app.add_subcommand(
      "models", "the model registry in Redis: list, add, activate, rollback, rm");
  models->require_subcommand(1);
  add_list(*models);
  add_add(*models);
  add_activate(*models);
  add_rollback(*models);
  add_remove(*models);
}

}  // namespace rs::cli
