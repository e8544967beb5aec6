// The gateway's TLS server context: a PEM certificate chain and its private key, TLS 1.2
// and up, forward-secret AEAD ciphers only. Made once by Gateway::start() on the caller's
// thread; then only read (by every handshake on the Asio thread).
#pragma once

#include <memory>
#include <string>

#include "asio.h"
#include "rs/core/result.h"

namespace rs::gateway {

// invalid_argument naming the file for an unreadable or malformed certificate or key, or a
// key that is not the certificate's.
Result<std::unique_ptr<boost::asio::ssl::context>> make_tls_context(const std::string& cert_file,
                                                                    const std::string& key_file);

}  // namespace rs::gateway
