#!/usr/bin/env bash
# Certificates for the import/list/delete/check tests, made with certtool
# and openssl (never with hsmcert), so the tests check us against others.
#
#   mkcert.sh pki DIR
#       DIR/root.{key,crt} "Test Root" (self-signed), DIR/sub.{key,crt}
#       "Test Sub CA" issued by it; EC P-256 keys for speed.
#   mkcert.sh leaf DIR LABEL OUT [FROM [TO [CN [ISSUER]]]]
#       a server certificate for the public key of the key pair labelled
#       LABEL on the token (read with pkcs11-tool), issued by ISSUER (sub or
#       root; default sub), valid FROM..TO ("2025-01-01" or "now+N" days;
#       default now-1..now+365), CN default www.example.test (also a SAN).
#   mkcert.sh ca DIR NAME SUBJECT_CN FROM TO [ISSUER]
#       another CA certificate with its own key: DIR/NAME.{key,crt}; with
#       ISSUER=self it is self-signed, else issued by DIR/ISSUER.
#   mkcert.sh reissue DIR NAME NEWNAME FROM TO
#       the CA certificate DIR/NAME.crt re-issued by the same issuer with the
#       same subject and key and new dates (a re-issued Sub CA).
#   mkcert.sh selfleaf OUT CN
#       a self-signed server certificate (not a CA) for a fresh key that is on
#       no token: what an orphan looks like.
# Environment: SOFTHSM2_CONF, PIN and TS_MODULE (SoftHSM2's module, as the
# build found it) from the test; TS_TOKEN_LABEL (default "test") optional.
set -euo pipefail
module=${TS_MODULE:-}
token=${TS_TOKEN_LABEL:-test}

die() { echo "mkcert: $*" >&2; exit 2; }

# when SPEC: "2025-01-01" -> certtool date, "now+N"/"now-N" -> days from now.
when() {
	case $1 in
	now[+-]*) date -u -d "${1#now} days" '+%Y-%m-%d %H:%M:%S' ;;
	*) echo "$1 00:00:00" ;;
	esac
}

serial() { printf '0x%s' "$(openssl rand -hex 8)"; }

# issue TEMPLATE OUT ISSUER_CRT ISSUER_KEY (--load-pubkey or --load-privkey in args)
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
serial = $(serial)
activation_date = "$(when "$3")"
expiration_date = "$(when "$4")"
ca
cert_signing_key
crl_signing_key
T
}

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ca() { # DIR NAME CN FROM TO ISSUER
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

case "${1:-}" in
pki)
	dir=$2
	mkdir -p "$dir"
	ca "$dir" root "Test Root" 2020-01-01 2045-01-01 self
	ca "$dir" sub "Test Sub CA" 2024-01-01 2040-01-01 root
	;;
ca)
	ca "$2" "$3" "$4" "$5" "$6" "${7:-self}"
	;;
reissue)
	dir=$2 name=$3 new=$4
	issuer_cn=$(openssl x509 -in "$dir/$name.crt" -noout -issuer -nameopt multiline |
		sed -n 's/^ *commonName *= *//p')
	cn=$(openssl x509 -in "$dir/$name.crt" -noout -subject -nameopt multiline |
		sed -n 's/^ *commonName *= *//p')
	issuer=sub
	[ "$issuer_cn" = "Test Root" ] && issuer=root
	ca_template "$dir/$new.tmpl" "$cn" "$5" "$6"
	cp "$dir/$name.key" "$dir/$new.key"
	certtool_issue "$dir/$new.tmpl" "$dir/$new.crt" "$dir/$issuer.crt" "$dir/$issuer.key" \
		--load-privkey "$dir/$new.key"
	rm -f "$dir/$new.tmpl"
	;;
leaf)
	dir=$2 label=$3 out=$4 from=${5:-now-1} to=${6:-now+365} cn=${7:-www.example.test}
	issuer=${8:-sub}
	[ -n "$module" ] || die "TS_MODULE must name SoftHSM2's module (the tests set it)"
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
serial = $(serial)
activation_date = "$(when "$from")"
expiration_date = "$(when "$to")"
tls_www_server
signing_key
encryption_key
T
	certtool_issue "$out.tmpl" "$out" "$dir/$issuer.crt" "$dir/$issuer.key" \
		--load-pubkey "$out.pub"
	rm -f "$out.tmpl" "$out.pub"
	;;
selfleaf)
	out=$2 cn=$3
	new_key "$out.key"
	cat >"$out.tmpl" <<T
cn = "$cn"
dns_name = "$cn"
serial = $(serial)
expiration_days = 30
tls_www_server
signing_key
T
	certtool --generate-self-signed --load-privkey "$out.key" --template "$out.tmpl" \
		--outfile "$out" >/dev/null 2>&1 || die "certtool failed for $out"
	rm -f "$out.tmpl" "$out.key"
	;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
	;;
esac
