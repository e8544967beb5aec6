// SHA-256 of a file's bytes (OpenSSL's EVP digest), as 64 lowercase hex digits. Used to
// register a model version and to verify a file against its registry record before loading.
// Pure function over the file; any thread.
#pragma once

#include <string>

#include "rs/core/result.h"

namespace rs::store {

// not_found if the file cannot be opened, io error if a read fails.
Result<std::string> sha256_file(const std::string& path);
// The digest of a buffer (tests, small payloads).
std::string sha256_hex(const void* data, size_t n_bytes);

}  // namespace rs::store
