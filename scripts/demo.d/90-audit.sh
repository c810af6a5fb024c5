# shellcheck shell=bash disable=SC2154 # $hsmcert, $pin, $data, step: set by scripts/demo.sh
# Stage 90: the auditor's view. Read-only; exit 1 means a key violates the
# non-exportable policy, which the demo reports rather than stops on.

step "Audit: can any key leave the token?" "hsmcert audit"
"$hsmcert" audit "$pin" || echo "(audit found violations: exit $?)"

step "File the audit report as JSON" "hsmcert audit --json > $data/audit-report.json"
audit_status=0
"$hsmcert" audit --json "$pin" >"$data/audit-report.json" || audit_status=$?
if [ "$audit_status" -gt 1 ]; then
	echo "audit failed (exit $audit_status)" >&2
	exit "$audit_status"
fi
chmod 0644 "$data/audit-report.json"
echo "Audit report filed: $data/audit-report.json (exit $audit_status: $([ "$audit_status" -eq 0 ] && echo "every key passes" || echo "violations found"))"
