#!/usr/bin/env bash
# The test PKIs of the tests, the demo and the benchmarks, made with openssl
# and GnuTLS's certtool, never with hsmcert: the tests check us against
# others. Two kinds:
#
# The migration PKI: a public CA in the middle of a root migration, fixed
# dates and serials, built once and cached (openssl ca with a CA database).
#   scripts/testpki.sh build DIR [PORT]   build the PKI into DIR (PORT: the
#                                          loopback HTTP port that AIA and CRL
#                                          URLs name, default 8080). Cached: a
#                                          DIR already built by this script for
#                                          the same PORT is left as it is.
#   scripts/testpki.sh sign DIR CSR OUT [DAYS]
#                                          issue a server certificate for a
#                                          CSR (PEM or DER) under the current
#                                          Sub CA; the CSR's subject and SANs
#                                          are kept; PEM to OUT.
#   scripts/testpki.sh serve WWWDIR PORTFILE [SECONDS]
#                                          serve WWWDIR over HTTP on 127.0.0.1
#                                          (a free port, written to PORTFILE),
#                                          in the foreground, for at most
#                                          SECONDS (default 300). Run it in the
#                                          background and stop it by its PID.
#
# A mini PKI, fresh keys each time, for certificates of keys on a token with
# any dates (made with certtool, which issues for a bare public key with any
# notBefore; OpenSSL 3.0's CLI cannot):
#   scripts/testpki.sh mini DIR
#       DIR/root.{key,crt} "Test Root" (self-signed), DIR/sub.{key,crt}
#       "Test Sub CA" issued by it; EC P-256 keys for speed.
#   scripts/testpki.sh leaf DIR LABEL OUT [FROM [TO [CN [ISSUER]]]]
#       a server certificate for the public key of the key pair labelled
#       LABEL on the token (read with pkcs11-tool), issued by ISSUER (sub or
#       root; default sub), valid FROM..TO ("2025-01-01" or "now+N" days;
#       default now-1..now+365), CN default www.example.test (also a SAN).
#       The token: TESTPKI_TOKEN (default "test"), PIN (default 1234), in the
#       module HSMCERT_SOFTHSM2_MODULE or else SoftHSM2's as
#       scripts/softhsm2-module.sh finds it; SOFTHSM2_CONF as the caller set it.
#   scripts/testpki.sh ca DIR NAME SUBJECT_CN FROM TO [ISSUER]
#       another CA certificate with its own key: DIR/NAME.{key,crt}; with
#       ISSUER=self (the default) it is self-signed, else issued by DIR/ISSUER.
#   scripts/testpki.sh reissue DIR NAME NEWNAME FROM TO
#       the CA certificate DIR/NAME.crt re-issued by the same issuer with the
#       same subject and key and new dates (a re-issued Sub CA).
#   scripts/testpki.sh selfleaf OUT CN
#       a self-signed server certificate (not a CA) for a fresh key that is on
#       no token: what an orphan looks like.
#
# What a migration PKI's DIR holds (all keys EC P-256 to keep the build fast;
# serials fixed):
#   root1.crt       "Test Global Root CA": the older, widely trusted root
#                   (2010-2036)
#   root3.crt       "Test Root CA 3", self-signed (2020-2045)
#   root3-cross.crt "Test Root CA 3" issued by Test Global Root CA (same key,
#                   2020-2036): the cross certificate
#   sub-old.crt     "Test Sub CA 1" issued by Root CA 3, notBefore 2020-06-01
#   sub.crt         "Test Sub CA 1" re-issued: same subject and key,
#                   notBefore 2025-06-01; the one to choose
#   ev.crt          "Test EV Sub CA" (EV policy 2.23.140.1.1), by Root CA 3
#   expired.crt     "Test Expired Sub CA" by Root CA 3, 2018-01-01..2022-01-01
#   revoked.crt     "Test Revoked Sub CA" by Root CA 3, revoked in root3.arl
#                   (serial 3005, reason keyCompromise)
#   root3.arl       Root CA 3's ARL revoking revoked.crt (CRL number 2);
#                   ARLs and CRLs are current for 10 years from the build
#   root3-clean.arl Root CA 3's earlier ARL revoking nothing (CRL number 1)
#   root3-stale.arl Root CA 3's ARL whose nextUpdate passed (2024-01-01)
#   root3-badsig.arl root3-clean.arl with its signature damaged
#   sub-badext.pem  sub.crt with a malformed subjectKeyIdentifier extension
#   root1.arl       the old root's ARL (clean; covers the cross certificate)
#   sub.crl ev.crl  the Sub CAs' CRLs for their leaves (clean)
#   leaf.crt/.key   www.example.test by sub.crt (AIA -> sub.der, CRL sub.crl)
#   ev-leaf.crt     ev.example.test by ev.crt (AIA -> ev.p7c, PKCS#7)
#   expired-leaf.crt, revoked-leaf.crt  leaves under expired.crt / revoked.crt
#   big-leaf.crt    by ev.crt, AIA -> big.der (a test makes it oversized)
#   dead-leaf.crt   by ev.crt, AIA -> http://127.0.0.1:1/ev.der (refused)
#   www/            what the loopback server serves: root1.der, root3.der,
#                   sub.der, ev.der, ev.p7c, *.arl and *.crl in DER
#   downloads/      a folder as a user downloads it from the CA site, formats
#                   mixed: sub.p7b (PKCS#7), sub-old.pem, root3-cross.der (DER),
#                   ev.cer (PEM), expired.pem, revoked.pem, root3.arl (DER),
#                   root1.arl (PEM)
#   roots-old/ roots-new/ roots-both/   trust stores (root1, root3, both)
#   port            the PORT the URLs name
# Leaves are valid 2025-09-01..2035-01-01; certificates with fixed dates make
# the choices deterministic (the re-issued Sub CA wins by notBefore).
set -euo pipefail
# shellcheck source=scripts/softhsm2-module.sh
. "$(dirname "$0")/softhsm2-module.sh"

die() { echo "testpki: $*" >&2; exit 2; }

ossl() { openssl "$@" 2>/dev/null || { openssl "$@" >&2; die "openssl $1 failed"; }; }

# One config for every CA; the CA directory and URLs come from the environment.
write_config() {
	cat >"$1" <<'CONF'
[ca]
default_ca = ca_any
[ca_any]
dir = $ENV::CA_DIR
database = $dir/index.txt
serial = $dir/serial
crlnumber = $dir/crlnumber
new_certs_dir = $dir
certificate = $dir/ca.crt
private_key = $dir/ca.key
default_md = sha256
default_crl_days = 3650
policy = policy_any
unique_subject = no
copy_extensions = copy
preserve = yes
email_in_dn = no
[policy_any]
countryName = optional
stateOrProvinceName = optional
localityName = optional
organizationName = optional
organizationalUnitName = optional
commonName = supplied
[req]
distinguished_name = req_dn
prompt = no
[req_dn]
CN = placeholder
[v3_root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_cross]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
authorityInfoAccess = caIssuers;URI:$ENV::AIA
crlDistributionPoints = URI:$ENV::CDP
[v3_sub]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
authorityInfoAccess = caIssuers;URI:$ENV::AIA
crlDistributionPoints = URI:$ENV::CDP
[v3_ev]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
authorityInfoAccess = caIssuers;URI:$ENV::AIA
crlDistributionPoints = URI:$ENV::CDP
certificatePolicies = 2.23.140.1.1
[v3_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
authorityInfoAccess = caIssuers;URI:$ENV::AIA
crlDistributionPoints = URI:$ENV::CDP
[crl_ext]
authorityKeyIdentifier = keyid:always
CONF
}

# new_ca NAME SERIAL: a CA database directory (the key is made by new_key).
new_ca() {
	mkdir -p "$work/ca/$1"
	: >"$work/ca/$1/index.txt"
	echo "unique_subject = no" >"$work/ca/$1/index.txt.attr"
	echo "$2" >"$work/ca/$1/serial"
	echo 01 >"$work/ca/$1/crlnumber"
}

new_key() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# csr KEY SUBJECT OUT [SAN]
csr() {
	local extra=()
	[ -n "${4:-}" ] && extra=(-addext "subjectAltName=$4")
	ossl req -new -config "$conf" -key "$1" -subj "$2" -out "$3" "${extra[@]}"
}

# issue CA EXTENSIONS CSR OUT START END [selfsign]: sign with CA's database.
issue() {
	local ca=$1 ext=$2 in=$3 out=$4 start=$5 end=$6 self=${7:-}
	local args=(ca -batch -config "$conf" -extensions "$ext" -in "$in" -out "$out.tmp"
		-startdate "$start" -enddate "$end" -notext)
	[ -n "$self" ] && args+=(-selfsign -keyfile "$work/ca/$ca/ca.key")
	CA_DIR="$work/ca/$ca" ossl "${args[@]}"
	openssl x509 -in "$out.tmp" -out "$out"
	rm -f "$out.tmp"
}

# crl CA OUT [ca args...]
crl() {
	local ca=$1 out=$2
	shift 2
	CA_DIR="$work/ca/$ca" ossl ca -config "$conf" -gencrl -crlexts crl_ext -out "$out" "$@"
}

url() { echo "http://127.0.0.1:$port/$1"; }

build() {
	local dir=$1 stamp
	port=${2:-8080}
	[[ $port =~ ^[0-9]+$ ]] || die "PORT must be a number: $port"
	# A changed script rebuilds: the stamp carries its digest.
	stamp="testpki port $port $(sha256sum "$0" | cut -c1-16)"
	if [ -f "$dir/.built" ] && [ "$(cat "$dir/.built")" = "$stamp" ]; then
		return 0
	fi
	mkdir -p "$(dirname "$dir")"
	# Parallel test workers may ask at once: one builds, the others wait.
	exec 9>"$dir.lock"
	flock 9
	if [ -f "$dir/.built" ] && [ "$(cat "$dir/.built")" = "$stamp" ]; then
		return 0
	fi
	work=$(mktemp -d "$dir.tmp.XXXXXX")
	conf=$work/openssl.cnf
	write_config "$conf"
	export AIA=none CDP=none CA_DIR=$work

	# The older, widely trusted root.
	new_ca root1 1001
	new_key "$work/ca/root1/ca.key"
	csr "$work/ca/root1/ca.key" "/C=HK/O=Test Trust Services/CN=Test Global Root CA" "$work/r1.csr"
	issue root1 v3_root "$work/r1.csr" "$work/ca/root1/ca.crt" 100101000000Z 361231000000Z self

	# Root CA 3, self-signed, and cross-signed by the old root with the same key.
	new_ca root3 3001
	new_key "$work/ca/root3/ca.key"
	csr "$work/ca/root3/ca.key" "/C=HK/O=Test Post/CN=Test Root CA 3" "$work/r3.csr"
	issue root3 v3_root "$work/r3.csr" "$work/ca/root3/ca.crt" 200101000000Z 451231000000Z self
	AIA=$(url root1.der) CDP=$(url root1.arl) \
		issue root1 v3_cross "$work/r3.csr" "$work/root3-cross.crt" 200101000000Z 361231000000Z

	# The Sub CA, issued in 2020 and re-issued in 2025 with the same subject and key.
	AIA=$(url root3.der) CDP=$(url root3.arl)
	export AIA CDP
	new_ca sub 5001
	new_key "$work/ca/sub/ca.key"
	csr "$work/ca/sub/ca.key" "/C=HK/O=Test Post/CN=Test Sub CA 1" "$work/sub.csr"
	issue root3 v3_sub "$work/sub.csr" "$work/sub-old.crt" 200601000000Z 350101000000Z # 3002
	issue root3 v3_sub "$work/sub.csr" "$work/ca/sub/ca.crt" 250601000000Z 400101000000Z # 3003

	new_ca ev 6001
	new_key "$work/ca/ev/ca.key"
	csr "$work/ca/ev/ca.key" "/C=HK/O=Test Post/CN=Test EV Sub CA" "$work/ev.csr"
	issue root3 v3_ev "$work/ev.csr" "$work/ca/ev/ca.crt" 200601000000Z 400101000000Z # 3004

	new_ca revoked 7001
	new_key "$work/ca/revoked/ca.key"
	csr "$work/ca/revoked/ca.key" "/C=HK/O=Test Post/CN=Test Revoked Sub CA" "$work/rv.csr"
	issue root3 v3_sub "$work/rv.csr" "$work/ca/revoked/ca.crt" 200601000000Z 400101000000Z # 3005

	new_ca expired 8001
	new_key "$work/ca/expired/ca.key"
	csr "$work/ca/expired/ca.key" "/C=HK/O=Test Post/CN=Test Expired Sub CA" "$work/ex.csr"
	issue root3 v3_sub "$work/ex.csr" "$work/ca/expired/ca.crt" 180101000000Z 220101000000Z # 3006

	# ARLs: clean first, then revoke the one CA; a stale one; a damaged one.
	crl root3 "$work/root3-clean.arl"
	CA_DIR="$work/ca/root3" ossl ca -config "$conf" -revoke "$work/ca/revoked/ca.crt" \
		-crl_reason keyCompromise
	crl root3 "$work/root3.arl"
	crl root3 "$work/root3-stale.arl" -crl_lastupdate 20231201000000Z \
		-crl_nextupdate 20240101000000Z
	crl root1 "$work/root1.arl"
	crl sub "$work/sub.crl"
	crl ev "$work/ev.crl"
	openssl crl -in "$work/root3-clean.arl" -outform DER -out "$work/badsig.der"
	# The last byte is inside the signature value: flip it.
	python3 - "$work/badsig.der" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[-1] ^= 0x55
open(p, 'wb').write(bytes(b))
PY
	openssl crl -inform DER -in "$work/badsig.der" -out "$work/root3-badsig.arl"
	# The re-issued Sub CA with its subjectKeyIdentifier made malformed (the
	# OCTET STRING inside the extension turned into a PrintableString).
	openssl x509 -in "$work/ca/sub/ca.crt" -outform DER -out "$work/badext.der"
	python3 - "$work/badext.der" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
i = b.find(bytes([0x06, 0x03, 0x55, 0x1d, 0x0e, 0x04])) + 7
assert b[i] == 0x04
b[i] = 0x13
open(p, 'wb').write(bytes(b))
PY
	{
		echo "-----BEGIN CERTIFICATE-----"
		openssl base64 -in "$work/badext.der"
		echo "-----END CERTIFICATE-----"
	} >"$work/sub-badext.pem"

	# Leaves.
	build_leaf() { # NAME CA CN AIA CDP
		new_key "$work/$1.key"
		csr "$work/$1.key" "/C=HK/O=Test Web/CN=$3" "$work/$1.csr" "DNS:$3"
		AIA=$4 CDP=$5 issue "$2" v3_leaf "$work/$1.csr" "$work/$1.crt" \
			250901000000Z 350101000000Z
	}
	build_leaf leaf sub www.example.test "$(url sub.der)" "$(url sub.crl)"
	build_leaf ev-leaf ev ev.example.test "$(url ev.p7c)" "$(url ev.crl)"
	build_leaf expired-leaf expired old.example.test "$(url expired.der)" "$(url expired.crl)"
	build_leaf revoked-leaf revoked bad.example.test "$(url revoked.der)" "$(url revoked.crl)"
	build_leaf big-leaf ev big.example.test "$(url big.der)" "$(url ev.crl)"
	build_leaf dead-leaf ev dead.example.test "http://127.0.0.1:1/ev.der" "$(url ev.crl)"

	for ca in root1 root3 sub ev expired revoked; do
		cp "$work/ca/$ca/ca.crt" "$work/$ca.crt"
	done
	mkdir -p "$work/www" "$work/downloads" "$work/roots-old" "$work/roots-new" \
		"$work/roots-both"
	for c in root1 root3 sub ev expired revoked; do
		openssl x509 -in "$work/$c.crt" -outform DER -out "$work/www/$c.der"
	done
	openssl crl2pkcs7 -nocrl -certfile "$work/ev.crt" -outform DER -out "$work/www/ev.p7c"
	for c in root3.arl root1.arl sub.crl ev.crl; do
		openssl crl -in "$work/$c" -outform DER -out "$work/www/$c"
	done
	openssl crl2pkcs7 -nocrl -certfile "$work/sub.crt" -out "$work/downloads/sub.p7b"
	cp "$work/sub-old.crt" "$work/downloads/sub-old.pem"
	openssl x509 -in "$work/root3-cross.crt" -outform DER -out "$work/downloads/root3-cross.der"
	cp "$work/ev.crt" "$work/downloads/ev.cer"
	cp "$work/expired.crt" "$work/downloads/expired.pem"
	cp "$work/revoked.crt" "$work/downloads/revoked.pem"
	cp "$work/www/root3.arl" "$work/downloads/root3.arl"
	cp "$work/root1.arl" "$work/downloads/root1.arl"
	cp "$work/root1.crt" "$work/roots-old/"
	cp "$work/root3.crt" "$work/roots-new/"
	cp "$work/root1.crt" "$work/root3.crt" "$work/roots-both/"
	rm -f "$work"/*.csr "$work/badsig.der" "$work/badext.der"
	echo "$port" >"$work/port"
	echo "$stamp" >"$work/.built"

	rm -rf "$dir"
	mv "$work" "$dir"
	flock -u 9
}

sign() {
	local dir=$1 in=$2 out=$3 days=${4:-365} form=PEM
	[ -f "$dir/.built" ] || die "$dir is not a test PKI (run: $0 build $dir PORT)"
	[ -r "$in" ] || die "cannot read $in"
	port=$(cat "$dir/port")
	openssl req -in "$in" -noout 2>/dev/null || form=DER
	conf=$(mktemp)
	write_config "$conf"
	exec 9>"$dir.lock"
	flock 9
	local tmp
	tmp=$(mktemp)
	openssl req -inform "$form" -in "$in" -out "$tmp.csr" 2>/dev/null || die "$in is not a CSR"
	CA_DIR="$dir/ca/sub" AIA=$(url sub.der) CDP=$(url sub.crl) \
		ossl ca -batch -config "$conf" -extensions v3_leaf -in "$tmp.csr" -out "$tmp" \
		-days "$days" -notext
	openssl x509 -in "$tmp" -out "$out"
	rm -f "$tmp" "$tmp.csr" "$conf"
	flock -u 9
}

# ---- the mini PKI (certtool) -----------------------------------------

# when SPEC: "2025-01-01" -> certtool date, "now+N"/"now-N" -> days from now.
when() {
	case $1 in
	now[+-]*) date -u -d "${1#now} days" '+%Y-%m-%d %H:%M:%S' ;;
	*) echo "$1 00:00:00" ;;
	esac
}

random_serial() { printf '0x%s' "$(openssl rand -hex 8)"; }

# certtool_issue TEMPLATE OUT ISSUER_CRT ISSUER_KEY (--load-pubkey or --load-privkey in args)
certtool_issue() {
	local tmpl=$1 out=$2 ca_crt=$3 ca_key=$4
	shift 4
	certtool --generate-certificate "$@" --load-ca-certificate "$ca_crt" \
		--load-ca-privkey "$ca_key" --template "$tmpl" --outfile "$out" >/dev/null 2>&1 ||
		die "certtool failed for $out"
}

ca_template() { # FILE CN FROM TO
	cat >"$1" <<T
cn = "$2"
organization = "Test PKI"
serial = $(random_serial)
activation_date = "$(when "$3")"
expiration_date = "$(when "$4")"
ca
cert_signing_key
crl_signing_key
T
}

mini_ca() { # DIR NAME CN FROM TO [ISSUER]
	local dir=$1 name=$2 cn=$3 from=$4 to=$5 issuer=${6:-self}
	new_key "$dir/$name.key"
	ca_template "$dir/$name.tmpl" "$cn" "$from" "$to"
	if [ "$issuer" = self ]; then
		certtool --generate-self-signed --load-privkey "$dir/$name.key" \
			--template "$dir/$name.tmpl" --outfile "$dir/$name.crt" >/dev/null 2>&1 ||
			die "certtool failed for $name"
	else
		certtool_issue "$dir/$name.tmpl" "$dir/$name.crt" "$dir/$issuer.crt" \
			"$dir/$issuer.key" --load-privkey "$dir/$name.key"
	fi
	rm -f "$dir/$name.tmpl"
}

mini() {
	local dir=$1
	mkdir -p "$dir"
	mini_ca "$dir" root "Test Root" 2020-01-01 2045-01-01 self
	mini_ca "$dir" sub "Test Sub CA" 2024-01-01 2040-01-01 root
}

reissue() { # DIR NAME NEWNAME FROM TO
	local dir=$1 name=$2 new=$3 issuer=sub issuer_cn cn
	issuer_cn=$(openssl x509 -in "$dir/$name.crt" -noout -issuer -nameopt multiline |
		sed -n 's/^ *commonName *= *//p')
	cn=$(openssl x509 -in "$dir/$name.crt" -noout -subject -nameopt multiline |
		sed -n 's/^ *commonName *= *//p')
	[ "$issuer_cn" = "Test Root" ] && issuer=root
	ca_template "$dir/$new.tmpl" "$cn" "$4" "$5"
	cp "$dir/$name.key" "$dir/$new.key"
	certtool_issue "$dir/$new.tmpl" "$dir/$new.crt" "$dir/$issuer.crt" "$dir/$issuer.key" \
		--load-privkey "$dir/$new.key"
	rm -f "$dir/$new.tmpl"
}

token_leaf() { # DIR LABEL OUT [FROM [TO [CN [ISSUER]]]]
	local dir=$1 label=$2 out=$3 from=${4:-now-1} to=${5:-now+365}
	local cn=${6:-www.example.test} issuer=${7:-sub} token=${TESTPKI_TOKEN:-test} module
	module=$(softhsm2_module) || die "no PKCS#11 module to read the key '$label' from"
	# pkcs11-tool (p11tool takes seconds here; pkcs11-tool 0.23 cannot read P-384).
	pkcs11-tool --module "$module" --token-label "$token" --login --pin "${PIN:-1234}" \
		--read-object --type pubkey --label "$label" -o "$out.pub.der" >/dev/null 2>&1 ||
		die "no public key '$label' on token $token"
	openssl pkey -pubin -inform DER -in "$out.pub.der" -out "$out.pub" 2>/dev/null ||
		die "cannot read the public key of '$label'"
	rm -f "$out.pub.der"
	cat >"$out.tmpl" <<T
cn = "$cn"
dns_name = "$cn"
serial = $(random_serial)
activation_date = "$(when "$from")"
expiration_date = "$(when "$to")"
tls_www_server
signing_key
encryption_key
T
	certtool_issue "$out.tmpl" "$out" "$dir/$issuer.crt" "$dir/$issuer.key" \
		--load-pubkey "$out.pub"
	rm -f "$out.tmpl" "$out.pub"
}

selfleaf() { # OUT CN
	local out=$1 cn=$2
	new_key "$out.key"
	cat >"$out.tmpl" <<T
cn = "$cn"
dns_name = "$cn"
serial = $(random_serial)
expiration_days = 30
tls_www_server
signing_key
T
	certtool --generate-self-signed --load-privkey "$out.key" --template "$out.tmpl" \
		--outfile "$out" >/dev/null 2>&1 || die "certtool failed for $out"
	rm -f "$out.tmpl" "$out.key"
}

# ---- serving --------------------------------------------------------

serve() {
	local www=$1 portfile=$2 seconds=${3:-300}
	[ -d "$www" ] || die "no directory $www"
	exec python3 - "$www" "$portfile" "$seconds" <<'PY'
import functools, http.server, os, sys, threading
www, portfile, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
handler = functools.partial(Quiet, directory=www)
httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
tmp = portfile + ".tmp"
with open(tmp, "w") as f:
    f.write("%d\n" % httpd.server_address[1])
os.rename(tmp, portfile)
# Bounded: the server stops by itself even if nobody kills it.
threading.Timer(seconds, httpd.shutdown).start()
httpd.serve_forever()
PY
}

case "${1:-}" in
build) [ $# -ge 2 ] || die "usage: $0 build DIR [PORT]"; build "$2" "${3:-8080}" ;;
sign) [ $# -ge 4 ] || die "usage: $0 sign DIR CSR OUT [DAYS]"; sign "$2" "$3" "$4" "${5:-365}" ;;
serve) [ $# -ge 3 ] || die "usage: $0 serve WWWDIR PORTFILE [SECONDS]"; serve "$2" "$3" "${4:-300}" ;;
mini) [ $# -eq 2 ] || die "usage: $0 mini DIR"; mini "$2" ;;
leaf) [ $# -ge 4 ] || die "usage: $0 leaf DIR LABEL OUT [FROM [TO [CN [ISSUER]]]]"; shift; token_leaf "$@" ;;
ca) [ $# -ge 6 ] || die "usage: $0 ca DIR NAME SUBJECT_CN FROM TO [ISSUER]"; shift; mini_ca "$@" ;;
reissue) [ $# -eq 6 ] || die "usage: $0 reissue DIR NAME NEWNAME FROM TO"; shift; reissue "$@" ;;
selfleaf) [ $# -eq 3 ] || die "usage: $0 selfleaf OUT CN"; selfleaf "$2" "$3" ;;
*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
