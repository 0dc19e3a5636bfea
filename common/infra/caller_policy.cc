#include "common/infra/caller_policy.h"

#include <grpcpp/security/auth_context.h>
#include <grpcpp/server_context.h>
#include <spdlog/spdlog.h>

#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/infra/request_id.h"

namespace orqa {

CallerIdentity IdentityOf(const grpc::ServerContext& context) {
  CallerIdentity id;
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return {"", "an unauthenticated caller"};
  for (const grpc::string_ref& san : auth->FindPropertyValues("x509_subject_alternative_name")) {
    const std::string value(san.data(), san.size());
    if (value.rfind("spiffe://", 0) != 0) continue;
    const size_t slash = value.find_last_of('/');
    if (slash + 1 < value.size() && slash > std::string_view("spiffe://").size()) {
      return {value.substr(slash + 1), value};
    }
  }
  for (const grpc::string_ref& cn : auth->FindPropertyValues("x509_common_name")) {
    const std::string value(cn.data(), cn.size());
    return {value, absl::StrCat("CN=", value)};
  }
  return {"", "a certificate with neither a spiffe:// URI nor a Common Name"};
}

absl::Status CallerPolicy::Allow(const grpc::ServerContext& context, const std::string& rpc,
                                 std::initializer_list<const char*> roles) const {
  if (!enforced_) return absl::OkStatus();
  const CallerIdentity id = IdentityOf(context);
  for (const char* role : roles) {
    if (!id.role.empty() && id.role == role) return absl::OkStatus();
  }
  const std::string message = absl::StrCat(rpc, " may be called by ", absl::StrJoin(roles, " or "), "; the caller is ",
                                           id.name, id.role.empty() ? "" : absl::StrCat(" (role ", id.role, ")"));
  spdlog::warn("refused {} from {} at {}: not a role its policy allows request_id={}", rpc, id.name, context.peer(),
               RequestIdOf(context));
  return absl::PermissionDeniedError(message);
}

}  // namespace orqa
