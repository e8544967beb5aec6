// `ringserve models list|add|activate|rollback|rm`: the arguments of each subcommand and
// the function that runs it (models_run.cpp); add_models_command (commands.h) registers
// them. Each run_* prints its output and returns the exit code. Main thread only.
#pragma once

#include <cstdint>
#include <string>

#include "models_access.h"

namespace rs::cli {

struct ModelsListArgs {
  ModelsOptions options;
  std::string name;  // "" -> every name
};

struct ModelsAddArgs {
  ModelsOptions options;
  std::string name;
  std::string file;
  std::string note;
  std::string chat_template_file;
  bool activate = false;
};

struct ModelsActivateArgs {
  ModelsOptions options;
  std::string name;
  uint32_t version = 0;
  uint32_t canary_percent = 0;  // 1-99: the canary for that share of new sessions
};

struct ModelsRollbackArgs {
  ModelsOptions options;
  std::string name;
};

struct ModelsRemoveArgs {
  ModelsOptions options;
  std::string name;
  uint32_t version = 0;
};

int run_models_list(const ModelsListArgs& args);
int run_models_add(const ModelsAddArgs& args);
int run_models_activate(const ModelsActivateArgs& args);
int run_models_rollback(const ModelsRollbackArgs& args);
int run_models_remove(const ModelsRemoveArgs& args);

}  // namespace rs::cli
