#!/usr/bin/env bash
# Prints the Debian mirror this machine's apt already uses for SUITE (default bookworm), read
# from /etc/apt/sources.list and /etc/apt/sources.list.d/ (one-line .list and deb822 .sources).
# Reading it here keeps every mirror address out of the repository.
set -euo pipefail
suite=${1:-bookworm}

from_list() {
    # deb [options] URI SUITE COMPONENTS...
    awk -v suite="$suite" '
        $1 == "deb" {
            i = 2
            if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
            if ($(i + 1) == suite) { print $i; exit }
        }' "$1"
}

from_sources() {
    # deb822 stanzas separated by blank lines; a stanza matches when Suites lists SUITE.
    awk -v suite="$suite" '
        function flush() {
            if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && uri != "") {
                print uri; found = 1; exit
            }
            types = ""; suites = ""; uri = ""
        }
        /^[[:space:]]*$/ { flush(); next }
        /^#/ { next }
        tolower($1) == "types:" { $1 = ""; types = $0 }
        tolower($1) == "suites:" { $1 = ""; suites = $0 }
        tolower($1) == "uris:" { uri = $2 }
        END { if (!found) flush() }' "$1"
}

files=()
[[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] && files+=("$f")
done

for f in "${files[@]}"; do
    case $f in
        *.sources) uri=$(from_sources "$f") ;;
        *) uri=$(from_list "$f") ;;
    esac
    if [[ -n $uri ]]; then
        printf '%s\n' "${uri%/}"
        exit 0
    fi
done
echo "no apt source for suite '$suite' in /etc/apt/sources.list{,.d/}" >&2
exit 1
