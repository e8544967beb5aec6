#include "rs/broker/loop/write_journal.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string_view>

namespace rs::broker {
namespace {

constexpr uint32_t kMaxPayloadBytes = 1u << 30;  // a larger length is a corrupt record

const std::array<uint32_t, 256>& crc_table() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1u) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

uint32_t crc32(std::string_view data) {
  const auto& t = crc_table();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = t[(c ^ b) & 0xFFu] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void put_u32(std::string& out, uint64_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
}

// Reads a u32 at `pos` of `data` (advancing it); false past the end.
bool get_u32(std::string_view data, size_t& pos, uint32_t& v) {
  if (data.size() - pos < 4) return false;
  v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(static_cast<unsigned char>(data[pos + i])) << (8 * i);
  pos += 4;
  return true;
}

bool decode_payload(std::string_view p, JournalBatch& batch) {
  size_t pos = 0;
  uint32_t n_commands = 0;
  if (!get_u32(p, pos, n_commands)) return false;
  for (uint32_t c = 0; c < n_commands; ++c) {
    uint32_t n_args = 0;
    if (!get_u32(p, pos, n_args) || n_args > p.size()) return false;
    store::RedisCommand command;
    command.reserve(n_args);
    for (uint32_t a = 0; a < n_args; ++a) {
      uint32_t len = 0;
      if (!get_u32(p, pos, len) || p.size() - pos < len) return false;
      command.emplace_back(p.substr(pos, len));
      pos += len;
    }
    batch.push_back(std::move(command));
  }
  return pos == p.size();
}

Result<std::string> read_all(int fd) {
  std::string data;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error(std::string("journal read: ") + std::strerror(errno));
    if (n == 0) return data;
    data.append(buf, static_cast<size_t>(n));
  }
}

// A script adding a batch result unless the stream's last ARGV[1] entries hold one with the
// same job_id (ARGV[2]). KEYS: the stream. ARGV[3..]: the entry's fields.
constexpr const char* kResultOnceScript = R"lua(
local seen = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[1])
for _, e in ipairs(seen) do
  local f = e[2]
  for i = 1, #f, 2 do
    if f[i] == 'job_id' and f[i + 1] == ARGV[2] then return e[1] end
  end
end
return redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
)lua";

}  // namespace

WriteJournal::~WriteJournal() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::vector<JournalBatch>> WriteJournal::open() {
  if (fd_ >= 0) return internal_error("journal already open");
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) return io_error("journal " + path_ + ": " + std::strerror(errno));
  RS_ASSIGN_OR_RETURN(std::string data, read_all(fd_));
  std::vector<JournalBatch> batches;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t at = pos;
    uint32_t len = 0;
    uint32_t crc = 0;
    JournalBatch batch;
    if (!get_u32(data, at, len) || !get_u32(data, at, crc) || len > kMaxPayloadBytes ||
        data.size() - at < len) {
      break;  // torn: the record's header or payload is incomplete
    }
    std::string_view payload = std::string_view(data).substr(at, len);
    if (crc32(payload) != crc || !decode_payload(payload, batch)) break;  // corrupt
    batches.push_back(std::move(batch));
    pos = at + len;
  }
  skipped_bytes_ = data.size() - pos;
  if (skipped_bytes_ != 0) {
    spdlog::error(
        "broker: journal {}: a torn or corrupt tail of {} byte(s) after {} complete "
        "batch(es) is skipped",
        path_, skipped_bytes_, batches.size());
    if (::ftruncate(fd_, static_cast<off_t>(pos)) != 0) {
      return io_error("journal " + path_ + ": cannot cut its tail: " + std::strerror(errno));
    }
  }
  size_bytes_ = pos;
  return batches;
}

std::string WriteJournal::encode(const JournalBatch& batch) {
  std::string payload;
  put_u32(payload, batch.size());
  for (const store::RedisCommand& command : batch) {
    put_u32(payload, command.size());
    for (const std::string& arg : command) {
      put_u32(payload, arg.size());
      payload.append(arg);
    }
  }
  std::string record;
  record.reserve(payload.size() + 8);
  put_u32(record, payload.size());
  put_u32(record, crc32(payload));
  record.append(payload);
  return record;
}

Status WriteJournal::append(const JournalBatch& batch) {
  if (fd_ < 0) return internal_error("journal not open");
  const std::string record = encode(batch);
  size_t done = 0;
  while (done < record.size()) {
    ssize_t n = ::write(fd_, record.data() + done, record.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("journal " + path_ + ": " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  size_bytes_ += record.size();
  return Status();
}

Status WriteJournal::clear() {
  if (fd_ < 0) return internal_error("journal not open");
  if (size_bytes_ == 0) return Status();
  if (::ftruncate(fd_, 0) != 0) return io_error("journal " + path_ + ": " + std::strerror(errno));
  size_bytes_ = 0;
  return Status();
}

store::RedisCommand WriteJournal::replay_form(const store::RedisCommand& command) {
  if (command.size() < 5 || command[0] != "XADD" || command[2] != "*") return command;
  std::string job_id;
  for (size_t i = 3; i + 1 < command.size(); i += 2) {
    if (command[i] == "job_id") job_id = command[i + 1];
  }
  if (job_id.empty()) return command;
  store::RedisCommand out{"EVAL",     kResultOnceScript,           "1",
                          command[1], std::to_string(kResultScan), job_id};
  out.insert(out.end(), command.begin() + 3, command.end());
  return out;
}

}  // namespace rs::broker
