#include "rs/store/file_sha256.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace rs::store {
namespace {

TEST(FileSha256Test, KnownVectors) {
  EXPECT_EQ(sha256_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(FileSha256Test, FileDigestEqualsBufferDigestAcrossReadChunks) {
  std::string data(3 * (1 << 20) + 12345, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 2654435761u) >> 13);
  auto path = std::filesystem::temp_directory_path() / ("rs_sha_" + std::to_string(::getpid()));
  {
    std::ofstream out(path, std::ios::binary);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  auto got = sha256_file(path.string());
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(*got, sha256_hex(data.data(), data.size()));
  std::filesystem::remove(path);
  EXPECT_EQ(sha256_file(path.string()).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace rs::store
