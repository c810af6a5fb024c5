# shellcheck shell=bash disable=SC2154 # $hsmcert, $pin, $data, step: set by scripts/demo.sh
# Stage 80: "Assign services to the certificate", after the certificates are
# issued (stages 30-50, and ACME's stage 70). When nginx is installed,
# deploy puts key 'web' of stage 50 in service, the printed start command runs
# nginx on a free 127.0.0.1 port, check --connect proves from the client side
# that the served chain verifies and the handshake was signed with the token
# key, and the printed stop command stops it. Nothing is installed in /etc.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
	printf '\n(nginx is not installed: the deploy stage is skipped)\n'
else
	dp_dir="$data/deploy-nginx"
	dp_port=18443
	# A free port: nothing answers there.
	while (exec 3<>"/dev/tcp/127.0.0.1/$dp_port") 2>/dev/null; do dp_port=$((dp_port + 1)); done
	# The demo's token lives in your home, so nginx's workers run as you; on a
	# server they are www-data, and deploy names the chown that lets them in.
	dp_user=$(id -un)

	step "Deploy key 'web' to nginx: chain, engine config, site, complete config, PIN file" \
		"hsmcert deploy nginx --key 'pkcs11:object=web' --out-dir deploy-nginx --listen 127.0.0.1:$dp_port --service-user $dp_user --chain $(basename "$demo_chain") --roots $(basename "$demo_roots") --test --force"
	"$hsmcert" deploy nginx --key 'pkcs11:object=web' --out-dir "$dp_dir" \
		--listen "127.0.0.1:$dp_port" --service-user "$dp_user" --chain "$demo_chain" \
		--roots "$demo_roots" --test --force "$pin"

	dp_env=$("$hsmcert" deploy nginx --key 'pkcs11:object=web' --out-dir "$dp_dir" \
		--listen "127.0.0.1:$dp_port" --service-user "$dp_user" --chain "$demo_chain" \
		--roots "$demo_roots" --force --json "$pin" |
		sed -n 's/^ *"environment": "\(.*\)",$/\1/p')
	# VAR=VALUE words (deploy refuses paths that would need quoting): split on purpose.
	read -ra dp_env_words <<<"$dp_env"
	dp_nginx=(nginx -p "$dp_dir/" -e "$dp_dir/error.log" -c "$dp_dir/nginx.conf")
	step "Start nginx with what deploy wrote, unchanged" "$dp_env ${dp_nginx[*]}"
	env "${dp_env_words[@]}" "${dp_nginx[@]}"
	for _ in $(seq 100); do # bounded: 10 s
		(exec 3<>"/dev/tcp/127.0.0.1/$dp_port") 2>/dev/null && break
		sleep 0.1
	done

	dp_rc=0
	step "From the client side: the served chain verifies and the leaf is the token key's" \
		"hsmcert check --key 'pkcs11:object=web' --roots $(basename "$demo_roots") --connect 127.0.0.1:$dp_port"
	"$hsmcert" check --key 'pkcs11:object=web' --roots "$demo_roots" \
		--connect "127.0.0.1:$dp_port" "$pin" || dp_rc=$?

	step "Stop nginx (the stop command needs the environment too)" "$dp_env ${dp_nginx[*]} -s stop"
	env "${dp_env_words[@]}" "${dp_nginx[@]}" -s stop
	[ "$dp_rc" -eq 0 ] || exit "$dp_rc"
fi
