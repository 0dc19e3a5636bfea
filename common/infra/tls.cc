#include "common/infra/tls.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace orqa {
namespace {

struct BioCloser {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Closer {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyCloser {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Closer>;

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "no PEM block found";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

absl::StatusOr<std::unique_ptr<BIO, BioCloser>> OpenFile(const std::string& flag, const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    return absl::NotFoundError(absl::StrCat(flag, ": cannot read '", path, "': ", std::strerror(errno)));
  }
  std::unique_ptr<BIO, BioCloser> bio(BIO_new_fp(f, BIO_CLOSE));
  if (!bio) {
    std::fclose(f);
    return absl::ResourceExhaustedError(absl::StrCat(flag, ": cannot open '", path, "'"));
  }
  return bio;
}

// Every certificate of a PEM file, in order; an error naming the file when
// there is none or one does not parse.
absl::StatusOr<std::vector<X509Ptr>> ReadCertificates(const std::string& flag, const std::string& path) {
  auto bio = OpenFile(flag, path);
  if (!bio.ok()) return bio.status();
  std::vector<X509Ptr> certs;
  ERR_clear_error();
  while (X509* x = PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr)) certs.emplace_back(x);
  const unsigned long e = ERR_peek_last_error();
  // Reading stops with "no start line" at the end of the file; anything else is damage.
  if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": '", path, "' holds a damaged PEM certificate: ", OpenSslError()));
  }
  ERR_clear_error();
  if (certs.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": '", path, "' holds no PEM certificate"));
  }
  return certs;
}

absl::Status CheckNotExpired(const std::string& flag, const std::string& path, X509* cert) {
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
    return absl::FailedPreconditionError(absl::StrCat(flag, ": the certificate in '", path, "' has expired"));
  }
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(flag, ": the certificate in '", path, "' is not valid yet (check the clock)"));
  }
  return absl::OkStatus();
}

// The certificate chain and its key: both readable, the key the leaf's.
absl::Status CheckPair(const std::string& cert_flag, const std::string& cert_path, const std::string& key_flag,
                       const std::string& key_path) {
  if (cert_path.empty() != key_path.empty()) {
    return absl::InvalidArgumentError(cert_path.empty() ? absl::StrCat(key_flag, " needs ", cert_flag)
                                                        : absl::StrCat(cert_flag, " needs ", key_flag));
  }
  if (cert_path.empty()) return absl::OkStatus();
  auto certs = ReadCertificates(cert_flag, cert_path);
  if (!certs.ok()) return certs.status();
  if (auto st = CheckNotExpired(cert_flag, cert_path, certs->front().get()); !st.ok()) return st;
  auto bio = OpenFile(key_flag, key_path);
  if (!bio.ok()) return bio.status();
  ERR_clear_error();
  std::unique_ptr<EVP_PKEY, KeyCloser> key(PEM_read_bio_PrivateKey(bio->get(), nullptr, nullptr, nullptr));
  if (!key) {
    return absl::InvalidArgumentError(absl::StrCat(key_flag, ": '", key_path,
                                                   "' holds no unencrypted PEM private key: ", OpenSslError()));
  }
  if (X509_check_private_key(certs->front().get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(key_flag, ": the key in '", key_path,
                                                   "' is not the key of the certificate in '", cert_path, "' (",
                                                   cert_flag, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckCa(const std::string& flag, const std::string& path) {
  if (path.empty()) return absl::OkStatus();
  return ReadCertificates(flag, path).status();
}

std::shared_ptr<grpc::experimental::CertificateProviderInterface> Provider(const std::string& key,
                                                                          const std::string& cert,
                                                                          const std::string& ca, int interval_s) {
  using grpc::experimental::FileWatcherCertificateProvider;
  const unsigned interval = static_cast<unsigned>(std::max(1, interval_s));
  if (!cert.empty() && !ca.empty()) return std::make_shared<FileWatcherCertificateProvider>(key, cert, ca, interval);
  if (!cert.empty()) return std::make_shared<FileWatcherCertificateProvider>(key, cert, interval);
  return std::make_shared<FileWatcherCertificateProvider>(ca, interval);
}

}  // namespace

void AddTlsServingFlags(FlagSet& flags, TlsServing* tls) {
  flags.String("tls-cert", &tls->cert,
               "PEM certificate chain (leaf first) this service presents; set: the gRPC port speaks TLS only. "
               "Empty: plaintext.");
  flags.String("tls-key", &tls->key, "PEM private key of --tls-cert (unencrypted).");
  flags.String("tls-client-ca", &tls->client_ca,
               "PEM CA certificates: every caller must present a certificate they sign (mutual TLS), and each "
               "RPC is allowed only to the roles its policy names (docs: 'Trust between services').");
  flags.Int("tls-reload-interval-s", &tls->reload_interval_s,
            "Seconds between checks of the TLS files (and --backend-tls-*) for a replaced certificate, used by "
            "new connections.");
}

void AddBackendTlsFlags(FlagSet& flags, TlsCalling* tls) {
  flags.String("backend-tls-ca", &tls->ca,
               "PEM CA certificates that sign the backends' certificates; set: this service calls its backends "
               "over TLS, checking that their certificate names the host dialled.");
  flags.String("backend-tls-cert", &tls->cert,
               "PEM client certificate presented to the backends (mutual TLS); default: --tls-cert.");
  flags.String("backend-tls-key", &tls->key, "PEM private key of --backend-tls-cert; default: --tls-key.");
}

void AddClientTlsFlags(FlagSet& flags, TlsCalling* tls) {
  flags.String("tls-ca", &tls->ca,
               "PEM CA certificates that sign the server's certificate; set: connect over TLS. Empty: plaintext.");
  flags.String("tls-cert", &tls->cert, "PEM client certificate for a server that requires one (mutual TLS).");
  flags.String("tls-key", &tls->key, "PEM private key of --tls-cert.");
}

absl::Status ValidateTlsServing(const TlsServing& tls) {
  if (tls.cert.empty() && !tls.client_ca.empty()) {
    return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS first)");
  }
  if (tls.reload_interval_s < 1 || tls.reload_interval_s > 86400) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-reload-interval-s: expected 1..86400, got ", tls.reload_interval_s));
  }
  if (auto st = CheckPair("--tls-cert", tls.cert, "--tls-key", tls.key); !st.ok()) return st;
  return CheckCa("--tls-client-ca", tls.client_ca);
}

absl::Status ValidateTlsCalling(const TlsCalling& tls, const std::string& flag_prefix) {
  if (!tls.enabled() && !tls.cert.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(flag_prefix, "cert needs ", flag_prefix,
                                                   "ca (the CA that signs the server's certificate)"));
  }
  if (auto st = CheckPair(flag_prefix + "cert", tls.cert, flag_prefix + "key", tls.key); !st.ok()) return st;
  return CheckCa(flag_prefix + "ca", tls.ca);
}

absl::Status ResolveBackendTls(const TlsServing& serving, TlsCalling* calling) {
  calling->reload_interval_s = serving.reload_interval_s;
  if (calling->enabled() && calling->cert.empty() && calling->key.empty()) {
    calling->cert = serving.cert;
    calling->key = serving.key;
  }
  return ValidateTlsCalling(*calling, "--backend-tls-");
}

std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const TlsServing& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  grpc::experimental::TlsServerCredentialsOptions options(
      Provider(tls.key, tls.cert, tls.client_ca, tls.reload_interval_s));
  options.watch_identity_key_cert_pairs();
  if (tls.mutual()) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const TlsCalling& tls) {
  if (!tls.enabled()) return grpc::InsecureChannelCredentials();
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(Provider(tls.key, tls.cert, tls.ca, tls.reload_interval_s));
  options.watch_root_certs();
  if (!tls.cert.empty()) options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  return grpc::experimental::TlsCredentials(options);
}

std::string DescribeTls(const TlsServing& tls) {
  if (!tls.enabled()) return "plaintext";
  return tls.mutual() ? "mutual TLS" : "TLS";
}

}  // namespace orqa
