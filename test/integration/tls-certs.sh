#!/bin/sh
# Make a test PKI in DIR with the openssl CLI: ca.crt (the CA), server.crt/key (127.0.0.1,
# key encrypted with password "secret" in server-enc.key too: PKCS#8 with 3DES, as mbedTLS 2.28
# reads no AES-encrypted PKCS#8), client.crt/key (signed by the
# CA), and other-ca.crt with rogue.crt/key (a second CA and a server certificate it signed,
# for "wrong CA" tests). EC P-256 keys: quick to make and to handshake with.
set -eu
dir=${1:?usage: tls-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
days=30
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() { # name subject
    key "$1.key"
    openssl req -x509 -new -key "$1.key" -subj "$2" -days $days -out "$1.crt" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() { # name subject ca ext
    key "$1.key"
    openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
    printf '%s\n' "$4" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial -days $days \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}
ca ca "/CN=rmq test CA"
ca other-ca "/CN=rmq other CA"
leaf server "/CN=127.0.0.1" ca "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
leaf client "/CN=rmq test client" ca "extendedKeyUsage=clientAuth"
leaf rogue "/CN=127.0.0.1" other-ca "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth"
openssl pkcs8 -topk8 -v2 des3 -in server.key -passout pass:secret -out server-enc.key
echo "$dir"
