// GgufFile: mapping and validation of GGUF v2/v3 files.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <unordered_set>

#include "byte_reader.h"
#include "rs/engine/gguf.h"

namespace rs::engine {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint32_t kMaxDims = 4;
constexpr uint64_t kMaxNameLen = 256;
constexpr uint64_t kMaxKeyLen = 65536;

// Size in bytes of a scalar value type, 0 for string/array/unknown.
uint64_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: return 1;
    case GgufType::kU16: case GgufType::kI16: return 2;
    case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: return 4;
    case GgufType::kU64: case GgufType::kI64: case GgufType::kF64: return 8;
    default: return 0;
  }
}

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Reads one scalar at p (which holds at least scalar_size(t) bytes).
std::variant<int64_t, double, std::string_view> scalar_at(GgufType t, const uint8_t* p) {
  switch (t) {
    case GgufType::kU8: return static_cast<int64_t>(load<uint8_t>(p));
    case GgufType::kI8: return static_cast<int64_t>(load<int8_t>(p));
    case GgufType::kBool: return static_cast<int64_t>(load<uint8_t>(p) != 0);
    case GgufType::kU16: return static_cast<int64_t>(load<uint16_t>(p));
    case GgufType::kI16: return static_cast<int64_t>(load<int16_t>(p));
    case GgufType::kU32: return static_cast<int64_t>(load<uint32_t>(p));
    case GgufType::kI32: return static_cast<int64_t>(load<int32_t>(p));
    case GgufType::kU64: return static_cast<int64_t>(load<uint64_t>(p));
    case GgufType::kI64: return load<int64_t>(p);
    case GgufType::kF32: return static_cast<double>(load<float>(p));
    case GgufType::kF64: return load<double>(p);
    default: return int64_t{0};
  }
}

bool is_integer(GgufType t) {
  return t != GgufType::kF32 && t != GgufType::kF64 && scalar_size(t) != 0;
}

Status read_value(ByteReader& r, GgufType type, const std::string& key, GgufValue* out) {
  out->type = type;
  if (type == GgufType::kString) {
    std::string_view s;
    if (!r.read_string(&s)) return corrupt("metadata '" + key + "': string runs past the end");
    out->scalar = s;
    return {};
  }
  if (type == GgufType::kArray) {
    uint32_t at = 0;
    uint64_t n = 0;
    if (!r.read(&at) || !r.read(&n)) return corrupt("metadata '" + key + "': truncated array header");
    out->array_type = static_cast<GgufType>(at);
    out->array_len = n;
    if (out->array_type == GgufType::kString) {
      if (n > r.remaining() / 8) return corrupt("metadata '" + key + "': array length past the end");
      out->array_strings.reserve(static_cast<size_t>(n));
      for (uint64_t i = 0; i < n; ++i) {
        std::string_view s;
        if (!r.read_string(&s)) return corrupt("metadata '" + key + "': array string past the end");
        out->array_strings.push_back(s);
      }
      return {};
    }
    uint64_t es = scalar_size(out->array_type);
    if (es == 0) return corrupt("metadata '" + key + "': bad array element type " + std::to_string(at));
    if (n > r.remaining() / es) return corrupt("metadata '" + key + "': array length past the end");
    out->array_data = r.here();
    (void)r.skip(n * es);
    return {};
  }
  uint64_t size = scalar_size(type);
  if (size == 0) {
    return corrupt("metadata '" + key + "': bad value type " + std::to_string(static_cast<uint32_t>(type)));
  }
  if (r.remaining() < size) return corrupt("metadata '" + key + "': value past the end");
  out->scalar = scalar_at(type, r.here());
  (void)r.skip(size);
  return {};
}

}  // namespace

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

int64_t TensorInfo::n_rows() const {
  int64_t n = 1;
  for (size_t i = 1; i < dims.size(); ++i) n *= dims[i];
  return n;
}

GgufFile::~GgufFile() {
  if (mapped_ && base_ != nullptr) munmap(const_cast<uint8_t*>(base_), size_);
}

Result<std::unique_ptr<GgufFile>> GgufFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open '" + path + "': " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return io_error("'" + path + "' is not a regular file");
  }
  auto size = static_cast<uint64_t>(st.st_size);
  if (size < 24) {
    ::close(fd);
    return corrupt("'" + path + "' is too small to be a GGUF file (" + std::to_string(size) + " bytes)");
  }
  void* p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return io_error("cannot map '" + path + "': " + std::strerror(errno));
  // Transparent huge pages for the weights where the kernel and filesystem offer them
  // (page cache in 2 MiB folios): fewer TLB misses while matmuls stream the weights. Advice
  // only: an error (no THP) changes nothing.
  (void)madvise(p, size, MADV_HUGEPAGE);
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  f->base_ = static_cast<const uint8_t*>(p);
  f->size_ = size;
  f->mapped_ = true;
  Status s = f->parse();
  if (!s.ok()) return Status(s.code(), "'" + path + "': " + s.message());
  return f;
}

void GgufFile::release_pages(const void* p, uint64_t n) const {
  if (!mapped_ || n == 0) return;
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto lo = reinterpret_cast<uintptr_t>(p);
  const uintptr_t begin = (lo + page - 1) / page * page;
  const uintptr_t end = (lo + n) / page * page;
  const auto base = reinterpret_cast<uintptr_t>(base_);
  if (begin >= end || begin < base || end > base + size_) return;
  (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

Result<std::unique_ptr<GgufFile>> GgufFile::from_buffer(std::span<const uint8_t> bytes) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = "<memory>";
  f->base_ = bytes.data();
  f->size_ = bytes.size();
  RS_RETURN_IF_ERROR(f->parse());
  return f;
}

Status GgufFile::parse() {
  ByteReader r(base_, size_);
  uint32_t magic = 0;
  uint64_t n_tensors = 0;
  uint64_t n_kv = 0;
  if (!r.read(&magic) || magic != kMagic) return corrupt("not a GGUF file (bad magic)");
  if (!r.read(&version_)) return corrupt("truncated header");
  if (version_ != 2 && version_ != 3) {
    return unsupported("GGUF version " + std::to_string(version_) + " (supported: 2, 3)");
  }
  if (!r.read(&n_tensors) || !r.read(&n_kv)) return corrupt("truncated header");
  // Each key/value needs at least 12 bytes and each tensor info at least 24.
  if (n_kv > r.remaining() / 12) return corrupt("metadata count " + std::to_string(n_kv) + " exceeds the file");
  if (n_tensors > r.remaining() / 24) return corrupt("tensor count " + std::to_string(n_tensors) + " exceeds the file");

  std::unordered_set<std::string_view> keys;
  kv_.reserve(static_cast<size_t>(n_kv));
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string_view key;
    uint32_t type = 0;
    if (!r.read_string(&key) || key.size() > kMaxKeyLen) return corrupt("metadata key " + std::to_string(i) + " is truncated");
    if (!r.read(&type)) return corrupt("metadata '" + std::string(key) + "': truncated type");
    if (!keys.insert(key).second) return corrupt("duplicate metadata key '" + std::string(key) + "'");
    GgufValue value;
    RS_RETURN_IF_ERROR(read_value(r, static_cast<GgufType>(type), std::string(key), &value));
    kv_.emplace_back(std::string(key), std::move(value));
  }
  if (const GgufValue* a = find("general.alignment")) {
    if (!is_integer(a->type)) return corrupt("general.alignment is not an integer");
    int64_t v = std::get<int64_t>(a->scalar);
    if (v <= 0 || v > (1 << 20) || (v & (v - 1)) != 0) return corrupt("general.alignment " + std::to_string(v) + " is not a power of two");
    alignment_ = static_cast<uint64_t>(v);
  }
  return parse_tensors(r, n_tensors);
}

Status GgufFile::parse_tensors(ByteReader& r, uint64_t n_tensors) {
  std::unordered_set<std::string> names;
  tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    std::string_view name;
    uint32_t n_dims = 0;
    if (!r.read_string(&name) || name.size() > kMaxNameLen) return corrupt("tensor " + std::to_string(i) + ": bad name");
    TensorInfo t;
    t.name = std::string(name);
    if (!r.read(&n_dims) || n_dims == 0 || n_dims > kMaxDims) return corrupt("tensor '" + t.name + "': bad dimension count");
    int64_t n_elem = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t dim = 0;
      if (!r.read(&dim)) return corrupt("tensor '" + t.name + "': truncated dims");
      if (dim == 0 || dim > (uint64_t{1} << 40) || __builtin_mul_overflow(n_elem, static_cast<int64_t>(dim), &n_elem)) {
        return corrupt("tensor '" + t.name + "': bad dimension " + std::to_string(dim));
      }
      t.dims.push_back(static_cast<int64_t>(dim));
    }
    uint32_t type = 0;
    if (!r.read(&type) || !r.read(&t.offset)) return corrupt("tensor '" + t.name + "': truncated info");
    t.type = static_cast<GgmlType>(type);
    if (!ggml_type_known(t.type)) return unsupported("tensor '" + t.name + "': unknown ggml type " + std::to_string(type));
    if (t.dims[0] % ggml_block_elems(t.type) != 0) return corrupt("tensor '" + t.name + "': row length not a multiple of the block size");
    t.n_bytes = static_cast<uint64_t>(n_elem / ggml_block_elems(t.type)) * static_cast<uint64_t>(ggml_block_bytes(t.type));
    if (!names.insert(t.name).second) return corrupt("duplicate tensor '" + t.name + "'");
    tensors_.push_back(std::move(t));
  }
  uint64_t data_start = (r.pos() + alignment_ - 1) / alignment_ * alignment_;
  if (data_start > size_) {
    if (n_tensors == 0) return {};
    return corrupt("data section starts past the end of the file");
  }
  for (TensorInfo& t : tensors_) {
    if (t.offset % alignment_ != 0) return corrupt("tensor '" + t.name + "': misaligned offset");
    uint64_t avail = size_ - data_start;
    if (t.offset > avail || t.n_bytes > avail - t.offset) {
      return corrupt("tensor '" + t.name + "' extends past the end of the file (file truncated?)");
    }
    t.data = base_ + data_start + t.offset;
  }
  return {};
}

const GgufValue* GgufFile::find(std::string_view key) const {
  for (const auto& [k, v] : kv_) {
    if (k == key) return &v;
  }
  return nullptr;
}

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  for (const TensorInfo& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

}  // namespace rs::engine
