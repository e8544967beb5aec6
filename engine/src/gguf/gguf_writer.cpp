// GgufWriter: GGUF v3 serialization.
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "rs/engine/gguf.h"

namespace rs::engine {
namespace {

constexpr uint64_t kAlignment = 32;

void put_bytes(std::vector<uint8_t>& out, const void* p, size_t n) {
  size_t at = out.size();
  out.resize(at + n);
  if (n > 0) std::memcpy(out.data() + at, p, n);
}

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
  put_bytes(out, &v, sizeof(T));
}

void put_string(std::vector<uint8_t>& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  put_bytes(out, s.data(), s.size());
}

uint64_t align_up(uint64_t v) { return (v + kAlignment - 1) / kAlignment * kAlignment; }

uint64_t tensor_bytes(const std::vector<int64_t>& dims, GgmlType type) {
  int64_t rows = 1;
  for (size_t i = 1; i < dims.size(); ++i) rows *= dims[i];
  return static_cast<uint64_t>(ggml_row_bytes(type, dims.empty() ? 0 : dims[0]) * rows);
}

}  // namespace

void GgufWriter::add_string(std::string key, std::string value) {
  std::vector<uint8_t> p;
  put_string(p, value);
  kv_.push_back({std::move(key), GgufType::kString, GgufType::kU8, std::move(p)});
}

void GgufWriter::add_u32(std::string key, uint32_t value) {
  std::vector<uint8_t> p;
  put(p, value);
  kv_.push_back({std::move(key), GgufType::kU32, GgufType::kU8, std::move(p)});
}

void GgufWriter::add_i32(std::string key, int32_t value) {
  std::vector<uint8_t> p;
  put(p, value);
  kv_.push_back({std::move(key), GgufType::kI32, GgufType::kU8, std::move(p)});
}

void GgufWriter::add_f32(std::string key, float value) {
  std::vector<uint8_t> p;
  put(p, value);
  kv_.push_back({std::move(key), GgufType::kF32, GgufType::kU8, std::move(p)});
}

void GgufWriter::add_bool(std::string key, bool value) {
  std::vector<uint8_t> p;
  put<uint8_t>(p, value ? 1 : 0);
  kv_.push_back({std::move(key), GgufType::kBool, GgufType::kU8, std::move(p)});
}

void GgufWriter::add_string_array(std::string key, std::vector<std::string> values) {
  std::vector<uint8_t> p;
  put<uint32_t>(p, static_cast<uint32_t>(GgufType::kString));
  put<uint64_t>(p, values.size());
  for (const auto& v : values) put_string(p, v);
  kv_.push_back({std::move(key), GgufType::kArray, GgufType::kString, std::move(p)});
}

void GgufWriter::add_f32_array(std::string key, std::vector<float> values) {
  std::vector<uint8_t> p;
  put<uint32_t>(p, static_cast<uint32_t>(GgufType::kF32));
  put<uint64_t>(p, values.size());
  for (float v : values) put(p, v);
  kv_.push_back({std::move(key), GgufType::kArray, GgufType::kF32, std::move(p)});
}

void GgufWriter::add_i32_array(std::string key, std::vector<int32_t> values) {
  std::vector<uint8_t> p;
  put<uint32_t>(p, static_cast<uint32_t>(GgufType::kI32));
  put<uint64_t>(p, values.size());
  for (int32_t v : values) put(p, v);
  kv_.push_back({std::move(key), GgufType::kArray, GgufType::kI32, std::move(p)});
}

void GgufWriter::add_tensor(std::string name, std::vector<int64_t> dims, GgmlType type,
                            std::vector<uint8_t> bytes) {
  uint64_t n = bytes.size();
  tensors_.push_back({std::move(name), std::move(dims), type, std::move(bytes), nullptr, n});
}

void GgufWriter::add_tensor_lazy(std::string name, std::vector<int64_t> dims, GgmlType type, FillFn fill) {
  uint64_t n = tensor_bytes(dims, type);
  tensors_.push_back({std::move(name), std::move(dims), type, {}, std::move(fill), n});
}

std::vector<uint8_t> GgufWriter::header_bytes() const {
  std::vector<uint8_t> out;
  put<uint32_t>(out, 0x46554747);
  put<uint32_t>(out, 3);
  put<uint64_t>(out, tensors_.size());
  put<uint64_t>(out, kv_.size());
  for (const Kv& kv : kv_) {
    put_string(out, kv.key);
    put<uint32_t>(out, static_cast<uint32_t>(kv.type));
    put_bytes(out, kv.payload.data(), kv.payload.size());
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(out, t.name);
    put<uint32_t>(out, static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) put<uint64_t>(out, static_cast<uint64_t>(d));
    put<uint32_t>(out, static_cast<uint32_t>(t.type));
    put<uint64_t>(out, offset);
    offset = align_up(offset + t.n_bytes);
  }
  out.resize(align_up(out.size()), 0);
  return out;
}

std::vector<uint8_t> GgufWriter::serialize() const {
  std::vector<uint8_t> out = header_bytes();
  for (const Tensor& t : tensors_) {
    size_t at = out.size();
    out.resize(at + t.n_bytes);
    if (t.fill) {
      t.fill(out.data() + at);
    } else if (t.n_bytes > 0) {  // an empty tensor may have no buffer at all
      std::memcpy(out.data() + at, t.bytes.data(), t.n_bytes);
    }
    out.resize(align_up(out.size()), 0);
  }
  return out;
}

Status GgufWriter::write(const std::string& path) const {
  std::string tmp = path + ".tmp";
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(tmp.c_str(), "wb"), &std::fclose);
  if (!f) return io_error("cannot create '" + tmp + "'");
  std::vector<uint8_t> header = header_bytes();
  bool ok = std::fwrite(header.data(), 1, header.size(), f.get()) == header.size();
  std::vector<uint8_t> buf;
  static const uint8_t kZeros[kAlignment] = {};
  for (const Tensor& t : tensors_) {
    if (!ok) break;
    const uint8_t* src = t.bytes.data();
    if (t.fill) {
      buf.assign(t.n_bytes, 0);
      t.fill(buf.data());
      src = buf.data();
    }
    ok = std::fwrite(src, 1, t.n_bytes, f.get()) == t.n_bytes;
    uint64_t pad = align_up(t.n_bytes) - t.n_bytes;
    if (ok && pad > 0) ok = std::fwrite(kZeros, 1, pad, f.get()) == pad;
  }
  if (std::fclose(f.release()) != 0) ok = false;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return io_error("cannot write '" + path + "'");
  }
  return {};
}

}  // namespace rs::engine
