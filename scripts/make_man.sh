#!/usr/bin/env bash
# make_man.sh CATDOG OUT - writes the man page catdog.1 from the program's own
# --help texts (`catdog --help` and every `catdog <command> --help`), so the
# options are written once, in the code.  Run by the build (CMakeLists.txt).
set -euo pipefail
bin=$1 out=$2
tmp="$out.tmp"
version=$("$bin" version 2>/dev/null | head -n 1 || echo catdog)

# roff: escape backslashes and leading dots/quotes; help lines become .nf blocks.
esc() { sed -e 's/\\/\\e/g' -e 's/^\([.'"'"']\)/\\\&\1/' -e 's/-/\\-/g'; }

{
    echo ".TH CATDOG 1 \"\" \"$version\" \"User Commands\""
    echo ".SH NAME"
    echo "catdog \\- tell whether a photo shows a cat or a dog; train, import, export and serve models"
    echo ".SH SYNOPSIS"
    echo ".B catdog"
    echo ".I command"
    echo "[\\fIoptions\\fR]"
    echo ".SH DESCRIPTION"
    echo ".nf"
    "$bin" --help | esc
    echo ".fi"
    # The commands, in the order --help lists them.
    for cmd in $("$bin" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'); do
        echo ".SH \"catdog $cmd\""
        echo ".nf"
        "$bin" "$cmd" --help | esc
        echo ".fi"
    done
    echo ".SH FILES"
    echo ".TP"
    echo ".I <prefix>/share/catdog"
    echo "the shipped models (models/) and the web page's assets, found next to the installed program"
    echo ".SH SEE ALSO"
    echo "The HTTP API: /api/v1/openapi.json on a running server, and docs/API.md in the source."
} >"$tmp"
mv "$tmp" "$out"
