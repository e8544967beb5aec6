// CURVE key files and allow-lists on disk (curve_keys.h).
#include "curve_keys.h"

#include <sys/stat.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "rs/wire/curve.h"

namespace rs::cli {
namespace {

namespace fs = std::filesystem;

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  }
  return name != "." && name != "..";
}

std::vector<std::string> words_of(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> w;
  for (std::string word; in >> word;) w.push_back(word);
  return w;
}

// The list's lines ("" if it does not exist yet).
Result<std::vector<std::string>> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  if (!in) {
    if (!fs::exists(path)) return lines;
    return io_error("cannot read " + path);
  }
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

Status write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& l : lines) text += l + "\n";
  return wire::write_private_file(path, text, 0600);
}

bool names(const std::string& line, const std::string& name) {
  std::vector<std::string> w = words_of(line);
  return w.size() >= 3 && w[0][0] != '#' && w[1] == name;
}

Status check_request(const CurveKeyRequest& r) {
  if (r.role != "worker" && r.role != "client" && r.role != "gateway" && r.role != "broker") {
    return invalid_argument("--role must be worker, client, gateway or broker");
  }
  if (!valid_name(r.name)) return invalid_argument("a key's name is 1-64 of [A-Za-z0-9._-]");
  if (r.role == "client" && r.tenant.empty()) return invalid_argument("a client key needs --tenant");
  if (r.role != "client" && !r.tenant.empty()) {
    return invalid_argument("only a client key is bound to a tenant (a gateway names it per request)");
  }
  if (!r.tenant.empty() && !valid_name(r.tenant)) return invalid_argument("a tenant is 1-64 of [A-Za-z0-9._-]");
  return Status();
}

// Adds (or with replace, swaps) the key's line in its allow-list.
Status list_key(const CurveKeyRequest& r, const std::string& path, const std::string& public_key) {
  RS_ASSIGN_OR_RETURN(std::vector<std::string> lines, read_lines(path));
  if (lines.empty()) lines.push_back("# ringserve CURVE allow-list: ROLE NAME PUBLIC-KEY [TENANT]");
  const size_t before = lines.size();
  std::erase_if(lines, [&](const std::string& l) { return names(l, r.name); });
  if (lines.size() != before && !r.replace) {
    return invalid_argument("'" + r.name + "' is already on " + path + " (--replace rotates its key)");
  }
  std::string line = r.role + " " + r.name + " " + public_key;
  if (!r.tenant.empty()) line += " " + r.tenant;
  lines.push_back(line);
  return write_lines(path, lines);
}

}  // namespace

std::string allow_list_path(const std::string& dir, const std::string& role) {
  return dir + (role == "worker" ? "/workers.allow" : "/clients.allow");
}

Result<CurveKeyIssued> issue_curve_key(const CurveKeyRequest& r) {
  RS_RETURN_IF_ERROR(check_request(r));
  std::error_code ec;
  fs::create_directories(r.dir, ec);
  if (ec) return io_error("cannot create " + r.dir + ": " + ec.message());
  ::chmod(r.dir.c_str(), 0700);
  CurveKeyIssued out{.key_path = r.dir + "/" + r.name + ".key", .pub_path = r.dir + "/" + r.name + ".pub"};
  if (fs::exists(out.key_path) && !r.replace) {
    return invalid_argument(out.key_path + " exists (--replace rotates it)");
  }
  RS_ASSIGN_OR_RETURN(wire::CurveKeyPair pair, wire::generate_curve_keypair());
  out.public_key = pair.public_key;
  wire::CurveKeyFile file{.role = r.role, .name = r.name, .tenant = r.tenant, .keys = pair};
  if (r.role != "broker") {
    out.allow_list = allow_list_path(r.dir, r.role);
    // The list first: a key that is written but not listed is refused, not the reverse.
    RS_RETURN_IF_ERROR(list_key(r, out.allow_list, pair.public_key));
  }
  RS_RETURN_IF_ERROR(wire::write_private_file(out.key_path, wire::format_curve_key_file(file), 0600));
  file.keys.secret_key.clear();
  RS_RETURN_IF_ERROR(wire::write_private_file(out.pub_path, wire::format_curve_key_file(file), 0644));
  return out;
}

Result<std::vector<std::string>> revoke_curve_key(const std::string& dir, const std::string& name) {
  std::vector<std::string> lists;
  for (const std::string& path : {dir + "/workers.allow", dir + "/clients.allow"}) {
    RS_ASSIGN_OR_RETURN(std::vector<std::string> lines, read_lines(path));
    const size_t before = lines.size();
    std::erase_if(lines, [&](const std::string& l) { return names(l, name); });
    if (lines.size() == before) continue;
    RS_RETURN_IF_ERROR(write_lines(path, lines));
    lists.push_back(path);
  }
  if (lists.empty()) return not_found("no key named '" + name + "' on the allow-lists in " + dir);
  return lists;
}

Result<std::vector<ListedCurveKey>> list_curve_keys(const std::string& dir) {
  std::vector<ListedCurveKey> out;
  for (const std::string& path : {dir + "/workers.allow", dir + "/clients.allow"}) {
    RS_ASSIGN_OR_RETURN(std::vector<std::string> lines, read_lines(path));
    for (const std::string& line : lines) {
      std::vector<std::string> w = words_of(line);
      if (w.size() < 3 || w[0][0] == '#') continue;
      out.push_back(ListedCurveKey{.role = w[0], .name = w[1], .public_key = w[2],
                                   .tenant = w.size() > 3 ? w[3] : "", .list = path});
    }
  }
  return out;
}

}  // namespace rs::cli
