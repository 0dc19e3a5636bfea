#pragma once

#include <initializer_list>
#include <string>

#include "absl/status/status.h"
#include "common/infra/tls.h"

namespace grpc {
class ServerContext;
}  // namespace grpc

namespace orqa {

/// Who a caller is, from the certificate it presented (mutual TLS): the role
/// is the last path segment of a `spiffe://` URI SAN when the certificate has
/// one (spiffe://orqa/gateway -> gateway; what a service mesh issues), else
/// its subject's Common Name (CN=gateway; what scripts/make-certs.sh issues).
/// `name` is what error messages show.
struct CallerIdentity {
  std::string role;
  std::string name;
};
CallerIdentity IdentityOf(const grpc::ServerContext& context);

/// The per-RPC caller policy of one service. Enforced only when the port
/// requires client certificates (--tls-client-ca): without them no caller has
/// an identity to check, which ServiceHost says at start when it listens
/// beyond loopback.
class CallerPolicy {
 public:
  explicit CallerPolicy(const TlsServing& tls) : enforced_(tls.mutual()) {}

  /// OK when the policy is not enforced or the caller's role is one of
  /// `roles`; else PERMISSION_DENIED naming the RPC, the roles it allows and
  /// the caller's identity.
  absl::Status Allow(const grpc::ServerContext& context, const std::string& rpc,
                     std::initializer_list<const char*> roles) const;

 private:
  bool enforced_;
};

}  // namespace orqa
