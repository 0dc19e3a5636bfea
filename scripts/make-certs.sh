#!/usr/bin/env bash
# A certificate authority and one certificate per orqa role, for mutual TLS
# between the services (local use, docker-compose, a test cluster; a
# production cluster would use its own issuer, e.g. cert-manager).
#
#   scripts/make-certs.sh DIR [--roles "gateway retriever ..."] [--days N] [--hosts "a.example 10.0.0.5"]
#                            [--key-mode 600]
#
# DIR/ca.crt, DIR/ca.key: the CA (made once; an existing one is reused, so a
#   second run renews the role certificates under the same trust).
# DIR/ROLE.crt, DIR/ROLE.key for each role (default: gateway retriever reader
#   trainer rest admin): EC P-256 keys, CN=ROLE (the identity each service's
#   caller policy checks), URI SAN spiffe://orqa/ROLE, and the names the role
#   is dialled by: localhost, 127.0.0.1, ::1, ROLE (docker-compose),
#   orqa-ROLE and *.orqa-ROLE (Kubernetes Services and StatefulSet pods), plus
#   --hosts. Files are written next to their final name and renamed into
#   place, never half-written: services watching them
#   (--tls-reload-interval-s) pick them up on new connections. Keys are
#   readable by their owner only; --key-mode 644 for containers that run as
#   another user from a bind mount (docker-compose.tls.yml; local use only).
set -euo pipefail
usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
[ $# -ge 1 ] || usage
case "$1" in -h|--help) usage 0 ;; esac
DIR=$1; shift
ROLES="gateway retriever reader trainer rest admin"
DAYS=365
HOSTS=""
KEY_MODE=600
while [ $# -gt 0 ]; do
  case "$1" in
    --roles) ROLES=$2; shift 2 ;;
    --days) DAYS=$2; shift 2 ;;
    --hosts) HOSTS=$2; shift 2 ;;
    --key-mode) KEY_MODE=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "make-certs.sh: error: unknown argument '$1'" >&2; usage ;;
  esac
done
command -v openssl > /dev/null || { echo "make-certs.sh: error: openssl is not installed (apt-get install openssl)" >&2; exit 1; }
[[ "$DAYS" =~ ^[0-9]+$ ]] && [ "$DAYS" -ge 1 ] || { echo "make-certs.sh: error: --days: expected a positive number, got '$DAYS'" >&2; exit 2; }
[[ "$KEY_MODE" =~ ^[0-7]{3}$ ]] || { echo "make-certs.sh: error: --key-mode: expected an octal mode like 600, got '$KEY_MODE'" >&2; exit 2; }
for role in $ROLES; do
  [[ "$role" =~ ^[a-z][a-z0-9-]*$ ]] || { echo "make-certs.sh: error: role '$role': expected lower-case letters, digits and -" >&2; exit 2; }
done
mkdir -p "$DIR"
umask 077
TMP=$(mktemp -d "$DIR/.make-certs.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

if [ ! -s "$DIR/ca.crt" ] || [ ! -s "$DIR/ca.key" ]; then
  openssl ecparam -name prime256v1 -genkey -noout -out "$TMP/ca.key" 2> /dev/null
  openssl req -x509 -new -key "$TMP/ca.key" -sha256 -days $((DAYS * 10)) -subj "/O=orqa/CN=orqa local CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$TMP/ca.crt" 2> /dev/null
  mv "$TMP/ca.key" "$DIR/ca.key"
  mv "$TMP/ca.crt" "$DIR/ca.crt"
  echo "CA: $DIR/ca.crt"
fi

for role in $ROLES; do
  sans="DNS:localhost,IP:127.0.0.1,IP:0:0:0:0:0:0:0:1,DNS:$role,DNS:orqa-$role,DNS:*.orqa-$role,URI:spiffe://orqa/$role"
  for h in $HOSTS; do
    if [[ "$h" =~ ^[0-9.]+$ || "$h" == *:* ]]; then sans="$sans,IP:$h"; else sans="$sans,DNS:$h"; fi
  done
  openssl ecparam -name prime256v1 -genkey -noout -out "$TMP/$role.key" 2> /dev/null
  openssl req -new -key "$TMP/$role.key" -subj "/O=orqa/CN=$role" -out "$TMP/$role.csr" 2> /dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=$sans" > "$TMP/$role.ext"
  openssl x509 -req -in "$TMP/$role.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" -CAcreateserial \
    -CAserial "$TMP/ca.srl" -days "$DAYS" -sha256 -extfile "$TMP/$role.ext" -out "$TMP/$role.crt" 2> /dev/null
  chmod 644 "$TMP/$role.crt"
  chmod "$KEY_MODE" "$TMP/$role.key"
  # The pair is checked before either replaces the old one.
  [ "$(openssl pkey -in "$TMP/$role.key" -pubout 2> /dev/null)" = "$(openssl x509 -in "$TMP/$role.crt" -noout -pubkey)" ] ||
    { echo "make-certs.sh: error: $role: the new key does not match its certificate" >&2; exit 1; }
  mv "$TMP/$role.key" "$DIR/$role.key"
  mv "$TMP/$role.crt" "$DIR/$role.crt"
  echo "$role: $DIR/$role.crt (CN=$role, spiffe://orqa/$role, $DAYS days)"
done
chmod 644 "$DIR/ca.crt"
