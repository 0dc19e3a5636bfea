#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/infra/flags.h"

namespace grpc {
class ChannelCredentials;
class ServerCredentials;
}  // namespace grpc

namespace orqa {

/// The serving side of a gRPC port: TLS when `cert` is set, mutual TLS (every
/// caller must present a certificate signed by `client_ca`) when `client_ca`
/// is set too. The files are watched: replaced on disk, they are used for new
/// connections within `reload_interval_s` (calls and connections already open
/// keep theirs). Replace a certificate and its key together (write both, then
/// rename them into place).
struct TlsServing {
  std::string cert;       // PEM certificate chain, leaf first (--tls-cert)
  std::string key;        // PEM private key of the leaf (--tls-key)
  std::string client_ca;  // PEM CA certificates that sign callers' certificates (--tls-client-ca)
  int reload_interval_s = 10;
  bool enabled() const { return !cert.empty(); }
  bool mutual() const { return !client_ca.empty(); }
};

/// The calling side: TLS to the servers when `ca` is set (their certificates
/// must be signed by it and name the host dialled, as a DNS or IP SAN); the
/// client certificate `cert` + `key` is presented when set (needed by servers
/// with --tls-client-ca).
struct TlsCalling {
  std::string ca;
  std::string cert;
  std::string key;
  int reload_interval_s = 10;
  bool enabled() const { return !ca.empty(); }
};

/// --tls-cert, --tls-key, --tls-client-ca, --tls-reload-interval-s (ORQA_TLS_*).
void AddTlsServingFlags(FlagSet& flags, TlsServing* tls);

/// A service's outgoing side: --backend-tls-ca, --backend-tls-cert,
/// --backend-tls-key. The certificate defaults to the service's own
/// --tls-cert / --tls-key (one certificate per role, used both ways); see
/// ResolveBackendTls.
void AddBackendTlsFlags(FlagSet& flags, TlsCalling* tls);

/// A client tool's flags: --tls-ca, --tls-cert, --tls-key (ORQA_TLS_CA, ...).
void AddClientTlsFlags(FlagSet& flags, TlsCalling* tls);

/// Checks the serving files before anything listens: each readable PEM, the
/// key the certificate's, the certificate not expired, the CA holding at least
/// one certificate; --tls-key / --tls-client-ca without --tls-cert refused.
/// Messages name the flag and the file.
absl::Status ValidateTlsServing(const TlsServing& tls);

/// The same for the calling side; `flag_prefix` is "--backend-tls-" or "--tls-".
absl::Status ValidateTlsCalling(const TlsCalling& tls, const std::string& flag_prefix);

/// Gives a service's outgoing side its own serving certificate when
/// --backend-tls-ca is set without --backend-tls-cert, then validates it.
absl::Status ResolveBackendTls(const TlsServing& serving, TlsCalling* calling);

/// Insecure credentials when TLS is off; else credentials whose files are
/// watched (gRPC's FileWatcherCertificateProvider).
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const TlsServing& tls);
std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const TlsCalling& tls);

/// "mutual TLS", "TLS" or "plaintext": for start-up lines.
std::string DescribeTls(const TlsServing& tls);

}  // namespace orqa
