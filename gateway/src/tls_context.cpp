// make_tls_context: loading and checking the certificate and key, the protocol floor.
#include "tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <filesystem>

namespace rs::gateway {

namespace {

namespace ssl = boost::asio::ssl;

// TLS 1.2 suites (Mozilla's "intermediate"); TLS 1.3 keeps OpenSSL's own (all AEAD).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// OpenSSL's reason for the last failure ("" if none), and the queue cleared.
std::string openssl_reason() {
  const unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e == 0) return "";
  const char* reason = ERR_reason_error_string(e);
  return reason != nullptr ? reason : "error " + std::to_string(e);
}

Status file_error(const char* flag, const std::string& file, const std::string& why) {
  return invalid_argument(std::string("gateway: ") + flag + " " + file + ": " + why);
}

}  // namespace

Result<std::unique_ptr<ssl::context>> make_tls_context(const std::string& cert_file,
                                                       const std::string& key_file) {
  std::error_code fs_ec;
  if (!std::filesystem::is_regular_file(cert_file, fs_ec))
    return file_error("--tls-cert", cert_file, "no such file");
  if (!std::filesystem::is_regular_file(key_file, fs_ec))
    return file_error("--tls-key", key_file, "no such file");
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use | SSL_OP_NO_COMPRESSION |
                   SSL_OP_NO_RENEGOTIATION);
  SSL_CTX* native = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
    return internal_error("gateway: TLS setup: " + openssl_reason());
  }
  // An encrypted key is refused instead of prompting on the terminal.
  ctx->set_password_callback([](size_t, ssl::context::password_purpose) { return std::string(); });
  boost::system::error_code ec;
  ERR_clear_error();
  // The key first: a certificate loaded after a key that is not its own drops the key, so
  // the check below reports the mismatch (loading them the other way round fails vaguely).
  ctx->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) return file_error("--tls-key", key_file, "not a PEM private key (" + ec.message() + ")");
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec) return file_error("--tls-cert", cert_file, "not a PEM certificate (" + ec.message() + ")");
  if (SSL_CTX_check_private_key(native) != 1) {
    return file_error("--tls-key", key_file,
                      "does not match the certificate " + cert_file + " (" + openssl_reason() + ")");
  }
  return ctx;
}

}  // namespace rs::gateway
