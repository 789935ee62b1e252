#!/bin/sh
# mkcerts.sh DIR NAME... : a test cluster's secrets in DIR.
#   DIR/ca.pem, DIR/ca.key     a fresh CA (ECDSA P-256), valid one day
#   DIR/NAME.pem, DIR/NAME.key a certificate with CN=NAME signed by the CA,
#                              good for TLS client and server
#   DIR/cluster.key            48 random bytes: the heartbeat HMAC key
# Keys are mode 0600.  Tests only: production certificates come from setup.
set -eu
[ $# -ge 2 ] || { echo "usage: mkcerts.sh DIR NAME..." >&2; exit 2; }
dir=$1; shift
mkdir -p "$dir"
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$dir/ca.key" -out "$dir/ca.pem" -days 1 -subj "/CN=cmsd test CA" \
	-addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
for name in "$@"; do
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$dir/$name.key" -out "$dir/$name.csr" \
		-subj "/CN=$name" 2>/dev/null
	printf '%s\n' "basicConstraints=CA:FALSE" \
		"keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=serverAuth,clientAuth" \
		"subjectAltName=DNS:$name" >"$dir/$name.ext"
	openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" \
		-CAkey "$dir/ca.key" -CAcreateserial -days 1 \
		-extfile "$dir/$name.ext" -out "$dir/$name.pem" 2>/dev/null
	rm -f "$dir/$name.csr" "$dir/$name.ext"
done
head -c 48 /dev/urandom >"$dir/cluster.key"
chmod 600 "$dir"/*.key
