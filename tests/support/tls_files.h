// Self-signed TLS material for the gateway's TLS tests, made with the `openssl` CLI
// (scripts/setup.sh installs it), and `curl` runs that verify it: the certificate names
// 127.0.0.1 and localhost, so a client that checks it against the file accepts the gateway.
// Test thread only.
#pragma once

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "child_process.h"

namespace rs::test {

// The full path of a program on PATH (ChildProcess execs a path), else the bare name.
inline std::string on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  for (size_t from = 0; from <= dirs.size();) {
    size_t to = dirs.find(':', from);
    if (to == std::string::npos) to = dirs.size();
    const std::string candidate = dirs.substr(from, to - from) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    from = to + 1;
  }
  return name;
}

struct TlsFiles {
  std::string cert;  // PEM certificate (also the CA to trust: it is self-signed)
  std::string key;   // its PEM private key
};

// A fresh P-256 self-signed certificate valid for a day, in dir as <stem>.crt / <stem>.key.
inline std::optional<TlsFiles> make_self_signed(const TempDir& dir, const std::string& stem) {
  TlsFiles f{dir.file(stem + ".crt"), dir.file(stem + ".key")};
  auto r = run_program({on_path("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f.key, "-out",
                        f.cert, "-days", "1", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=IP:127.0.0.1,DNS:localhost"},
                       dir.file(stem + ".openssl.log"), 30000);
  if (!r) return std::nullopt;
  return f;
}

// What `curl` saw: its exit code, the body, the HTTP status (0 if none).
struct CurlResult {
  int exit = -1;
  std::string body;
  int status = 0;
  std::string headers;  // the response head as received
  std::string header(const std::string& name) const {  // name in lower case
    std::string lower;
    for (char c : headers) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    const size_t at = lower.find("\n" + name + ":");
    if (at == std::string::npos) return "";
    size_t from = at + name.size() + 2;
    while (from < headers.size() && headers[from] == ' ') ++from;
    const size_t end = headers.find_first_of("\r\n", from);
    return headers.substr(from, end - from);
  }
};

// curl -sS against `url` trusting only `ca` (nothing but the system store if ""), with a
// JSON body (POST) if one is given; -N so streams arrive as they are sent.
inline CurlResult curl(const TempDir& dir, const std::string& url, const std::string& ca,
                       const std::vector<std::string>& headers, const std::string& body = "") {
  const std::string head_file = dir.file("curl-head.txt");
  std::vector<std::string> argv = {on_path("curl"), "-sS", "-N", "--max-time", "60", "-D", head_file,
                                   "-w", "\n%{http_code}"};
  if (!ca.empty()) argv.insert(argv.end(), {"--cacert", ca});
  for (const auto& h : headers) argv.insert(argv.end(), {"-H", h});
  if (!body.empty()) {
    const std::string body_file = dir.file("curl-body.json");
    std::ofstream(body_file) << body;
    argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary",
                             "@" + body_file});
  }
  argv.push_back(url);
  ChildProcess p;
  CurlResult out;
  if (!p.start(argv, dir.file("curl.err"))) return out;
  std::string text = p.read_all(70000);
  if (!p.wait_exit(5000)) {
    p.kill_hard();
    return out;
  }
  out.exit = p.exit_code();
  std::ifstream head_in(head_file);
  out.headers.assign(std::istreambuf_iterator<char>(head_in), std::istreambuf_iterator<char>());
  while (!text.empty() && text.back() == '\n') text.pop_back();
  const size_t nl = text.rfind('\n');
  if (nl != std::string::npos) {
    out.body = text.substr(0, nl);
    out.status = std::atoi(text.c_str() + nl + 1);
  }
  return out;
}

}  // namespace rs::test
