#!/usr/bin/env bash
# The layer rules of STYLE.md ("The shape of the house"), checked on the source:
#   1. Only pkcs11/ calls PKCS#11 (C_Xxx(...)) or uses libp11 (PKCS11_*, libp11.h).
#   2. Only src/cmd/ prints, prompts or exits (printf, puts, perror, exit, abort,
#      stdout/stderr/stdin, /dev/tty, getpass, ...); writing to files is not printing.
#   3. src/ (the CLI included) never includes a pkcs11/ internal header: every
#      quoted include resolves next to the file or under include/.
#   4. Only src/cmd/ names a command-line flag in a string ("--force"): the
#      library names the condition, the CLI gives the advice (src/cmd/hints.c).
# Comments are ignored; rules 1 and 2 ignore string literals too.
# scripts/check-layers.allow lists known exceptions ("PATH RULE  # why"), each
# with its reason and the change that removes it; an entry that no longer
# matches anything is reported so that it gets deleted.
# Usage: scripts/check-layers.sh [TREE]   (default: this checkout). Exit 1 on a violation.
set -euo pipefail
root=${1:-"$(dirname "$0")/.."}
cd "$root"

exec python3 - <<'EOF'
import os, re, sys

def strip(text, strings):
    """Comments (and, if `strings`, string/char literal contents) blanked; newlines kept."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith('//', i):
            j = text.find('\n', i)
            j = n if j < 0 else j
            i = j
        elif text.startswith('/*', i):
            j = text.find('*/', i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r'[^\n]', ' ', text[i:j]))
            i = j
        elif c in '"\'':
            j = i + 1
            while j < n and text[j] != c and text[j] != '\n':
                j += 2 if text[j] == '\\' else 1
            j = min(j + 1, n)
            out.append(c + ' ' * (j - i - 2) + c if strings else text[i:j])
            i = j
        else:
            out.append(c)
            i += 1
    return ''.join(out)

def sources(*tops):
    for top in tops:
        for d, _, files in os.walk(top):
            for f in sorted(files):
                if f.endswith(('.c', '.h')):
                    yield os.path.join(d, f)

P11 = re.compile(r'\bC_[A-Z][A-Za-z]*\s*\(|\bPKCS11_[A-Za-z_]+|libp11\.h')
# Writing to a FILE* or a descriptor (config files, PEM, "-o -") is not printing,
# nor is _exit() in a forked child: the standard streams, the calls that can
# only reach them or the terminal, and ending the process are.
PRINT = re.compile(r'\b(?:(?:printf|vprintf|puts|putchar|putwchar|perror|psignal|exit|quick_exit|'
                   r'abort|err|errx|verr|verrx|warn|warnx|vwarn|vwarnx|error|'
                   r'error_at_line|syslog|vsyslog|getpass|[A-Za-z0-9_]+_print_fp|BIO_new_fp)\s*\(|'
                   r'(?:stdout|stderr|stdin)\b)')
TTY = re.compile(r'"/dev/tty"')
FLAG = re.compile(r'"(?:[^"\\\n]|\\.)*?(?<![A-Za-z0-9-])--[a-z][^"\\\n]*"')
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)

allow = {}
try:
    for line in open('scripts/check-layers.allow', encoding='utf-8'):
        line = line.split('#', 1)[0].split()
        if len(line) == 2:
            allow[(line[0], line[1])] = 0
except FileNotFoundError:
    pass

problems = []
def report(path, text, m, rule):
    key = (path, rule.split(':')[0])
    if key in allow:
        allow[key] += 1
        return
    line = text.count('\n', 0, m.start()) + 1
    src = text.splitlines()[line - 1].strip() if text else ''
    problems.append(f'{path}:{line}: {rule}: {src}')

for path in sources('src', 'include', 'pkcs11'):
    raw = open(path, encoding='utf-8', errors='replace').read()
    code = strip(raw, strings=True)
    kept = strip(raw, strings=False)
    in_p11 = path.startswith('pkcs11/')
    in_cli = path.startswith('src/cmd/')
    if not in_p11:
        for m in P11.finditer(code):
            report(path, raw, m, 'p11: PKCS#11 or libp11 outside pkcs11/')
    if not in_cli:
        for m in PRINT.finditer(code):
            report(path, raw, m, 'print: printing, prompting or exiting outside src/cmd/')
        for m in TTY.finditer(kept):
            report(path, raw, m, 'print: the terminal opened outside src/cmd/')
        for m in FLAG.finditer(kept):
            report(path, raw, m, 'flag: a command-line flag named outside src/cmd/ (an hc_hint/hc_input)')
    if path.startswith('src/'):
        for m in INCLUDE.finditer(kept):
            inc = m.group(1)
            here = os.path.normpath(os.path.join(os.path.dirname(path), inc))
            api = os.path.join('include', inc)
            ok = os.path.exists(here) or os.path.exists(api) or os.path.exists(api + '.in')
            if 'pkcs11/' in here or not ok:
                report(path, raw, m, 'include: a header outside include/ and this folder')

for (path, rule), used in allow.items():
    if not used:
        print(f'check-layers: scripts/check-layers.allow: {path} {rule} matches nothing '
              f'now: delete the entry', file=sys.stderr)
for p in problems:
    print(p, file=sys.stderr)
if problems:
    print(f'check-layers: {len(problems)} violation(s) of the layer rules (STYLE.md)',
          file=sys.stderr)
    sys.exit(1)
print('check-layers: ok')
EOF
