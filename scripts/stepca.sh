#!/usr/bin/env bash
# A real ACME server for the tests and the demo: step-ca built offline from
# Debian's Go sources (golang-go, golang-github-smallstep-certificates-dev),
# with a throw-away root and intermediate made by the openssl CLI.
#
# Usage:
#   scripts/stepca.sh build OUT        build step-ca into OUT (a file path);
#                                      cached: OUT is kept while this script
#                                      is unchanged (about a minute to build).
#                                      Exit 3 when Go or the sources are
#                                      missing.
#   scripts/stepca.sh config DIR PORT [DURATION]
#                                      write a CA into DIR: root.crt, int.crt,
#                                      their keys, ca.json listening on
#                                      127.0.0.1:PORT with ACME provisioners
#                                      "acme" (certificates live DURATION, a Go
#                                      duration, default 24h), "long" (72h:
#                                      renewals that are then not due), and
#                                      "eab" (requires External Account
#                                      Binding). The directory URL is
#                                      https://127.0.0.1:PORT/acme/acme/directory
#   scripts/stepca.sh eab BIN DIR      make an External Account Binding key
#                                      (step-ca 0.19 binds it to no provisioner
#                                      in particular; run before start);
#                                      prints "KID HMAC" (HMAC base64url)
#   scripts/stepca.sh start BIN DIR    start BIN on DIR/ca.json in the
#                                      background; its PID goes to DIR/pid,
#                                      its log to DIR/log; waits (bounded) until
#                                      it answers.
#   scripts/stepca.sh stop DIR         stop it by its PID, waiting (bounded) until
#                                      it is gone.
set -euo pipefail

sources=/usr/share/gocode

build() {
	local out=$1 stamp
	# Rebuilt when this script (and so main.go below) changes.
	stamp=$(sha256sum <"$0" | cut -c1-64)
	[[ -x $out && $(cat "$out.stamp" 2>/dev/null) == "$stamp" ]] && return 0
	mkdir -p "$(dirname "$out")"
	# Parallel test workers may all ask at once: one builds, the others wait.
	exec 9>"$out.lock"
	flock 9
	[[ -x $out && $(cat "$out.stamp" 2>/dev/null) == "$stamp" ]] && return 0
	if ! command -v go >/dev/null || [[ ! -d $sources/src/github.com/smallstep/certificates ]]; then
		echo "stepca.sh: Go or golang-github-smallstep-certificates-dev is missing" >&2
		exit 3
	fi
	local dir
	dir=$(dirname "$out")/stepca-src
	mkdir -p "$dir/src/hsmcert-stepca"
	cat >"$dir/src/hsmcert-stepca/main.go" <<'GO'
// step-ca's own command (commands.AppCommand) behind a minimal urfave/cli app,
// plus "eab-add DB": an External Account Binding key made in the
// CA's database (step-ca must not be running), printed as "KID HMAC".
package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"time"

	acmedb "github.com/smallstep/certificates/acme/db/nosql"
	"github.com/smallstep/certificates/commands"
	"github.com/smallstep/nosql"
	"github.com/urfave/cli"
	"go.step.sm/cli-utils/step"
)

// The record step-ca 0.19 keeps for an EAB key (acme/db/nosql/eab.go).
type eabRecord struct {
	ID            string    `json:"id"`
	ProvisionerID string    `json:"provisionerID"`
	Reference     string    `json:"reference"`
	AccountID     string    `json:"accountID,omitempty"`
	KeyBytes      []byte    `json:"key"`
	CreatedAt     time.Time `json:"createdAt"`
	BoundAt       time.Time `json:"boundAt"`
}

// 0.19 looks EAB keys up by the provisioner's ID field, which is empty for a
// provisioner from ca.json, and its own CreateExternalAccountKey cannot index
// an empty ID: the record is written directly.
func eabAdd(path string) error {
	db, err := nosql.New("bbolt", path)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := acmedb.New(db); err != nil { // creates the ACME tables
		return err
	}
	id := make([]byte, 24)
	key := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		return err
	}
	if _, err := rand.Read(key); err != nil {
		return err
	}
	rec := eabRecord{ID: base64.RawURLEncoding.EncodeToString(id), Reference: "hsmcert-test",
		KeyBytes: key, CreatedAt: time.Now().UTC().Truncate(time.Second)}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := db.Set([]byte("acme_external_account_keys"), []byte(rec.ID), b); err != nil {
		return err
	}
	fmt.Printf("%s %s\n", rec.ID, base64.RawURLEncoding.EncodeToString(key))
	return nil
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "eab-add" {
		if err := eabAdd(os.Args[2]); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		return
	}
	step.Set("step-ca", "0.19-debian", "hsmcert-test")
	app := cli.NewApp()
	app.Name = "step-ca"
	app.Usage = "online certificate authority (hsmcert tests)"
	app.Flags = commands.AppCommand.Flags
	app.Action = commands.AppCommand.Action
	app.HideHelp = true
	if err := app.Run(os.Args); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
}
GO
	(cd "$dir/src/hsmcert-stepca" &&
		GOPATH="$dir:$sources" GO111MODULE=off GOCACHE="$dir/cache" GOPROXY=off \
			go build -o "$out.tmp" . >"$dir/build.log" 2>&1) || { cat "$dir/build.log" >&2; exit 3; }
	mv "$out.tmp" "$out"
	echo "$stamp" >"$out.stamp"
}

config() {
	local dir=$1 port=$2 duration=${3:-24h}
	mkdir -p "$dir"
	cd "$dir"
	openssl ecparam -name prime256v1 -genkey -noout -out root.key 2>/dev/null
	openssl req -x509 -new -key root.key -subj "/CN=hsmcert ACME Test Root" -days 30 \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		-out root.crt 2>/dev/null
	openssl ecparam -name prime256v1 -genkey -noout -out int.key 2>/dev/null
	openssl req -new -key int.key -subj "/CN=hsmcert ACME Test Intermediate" -out int.csr 2>/dev/null
	printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' >int.ext
	openssl x509 -req -in int.csr -CA root.crt -CAkey root.key -CAcreateserial -days 30 \
		-extfile int.ext -out int.crt 2>/dev/null
	rm -f int.csr int.ext root.srl
	cat >ca.json <<JSON
{
  "root": "$dir/root.crt",
  "crt": "$dir/int.crt",
  "key": "$dir/int.key",
  "address": "127.0.0.1:$port",
  "dnsNames": ["127.0.0.1", "localhost"],
  "logger": {"format": "text"},
  "db": {"type": "bbolt", "dataSource": "$dir/db"},
  "authority": {
    "claims": {"minTLSCertDuration": "1m", "maxTLSCertDuration": "72h",
               "defaultTLSCertDuration": "$duration"},
    "provisioners": [
      {"type": "ACME", "name": "acme"},
      {"type": "ACME", "name": "long",
       "claims": {"maxTLSCertDuration": "72h", "defaultTLSCertDuration": "72h"}},
      {"type": "ACME", "name": "eab", "requireEAB": true}
    ]
  },
  "tls": {"minVersion": 1.2, "maxVersion": 1.3}
}
JSON
}

start() {
	local bin=$1 dir=$2 port
	port=$(sed -n 's/.*"address": "127.0.0.1:\([0-9]*\)".*/\1/p' "$dir/ca.json")
	"$bin" "$dir/ca.json" </dev/null >"$dir/log" 2>&1 &
	echo $! >"$dir/pid"
	for _ in $(seq 1 200); do
		if curl -sf --cacert "$dir/root.crt" "https://127.0.0.1:$port/acme/acme/directory" >/dev/null; then
			return 0
		fi
		kill -0 "$(cat "$dir/pid")" 2>/dev/null || { cat "$dir/log" >&2; exit 4; }
		sleep 0.1
	done
	echo "stepca.sh: step-ca did not answer on port $port" >&2
	kill "$(cat "$dir/pid")"
	exit 4
}

eab() {
	"$1" eab-add "$2/db"
}

stop() {
	local dir=$1 pid
	pid=$(cat "$dir/pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
}

case ${1:-} in
build) build "$(realpath -m "$2")" ;;
config) config "$(realpath -m "$2")" "$3" "${4:-}" ;;
eab) eab "$2" "$(realpath "$3")" ;;
start) start "$2" "$(realpath "$3")" ;;
stop) stop "$2" ;;
*) sed -n '2,/^set -e/p' "$0" | sed '$d' >&2; exit 2 ;;
esac
