#!/usr/bin/env bash
# test_split_cli.sh - `catdog split` on the command line: --help, usage errors
# (exit 2), the counts it prints, links by default vs --copy, refusal of a
# non-empty DEST (exit 1) and --force.  Uses a small fake Kaggle folder.
set -euo pipefail
BIN=${CATDOG_BIN:?CATDOG_BIN must point at the catdog binary}
T=$(mktemp -d /tmp/catdog_split_cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir "$T/src"
for i in $(seq 0 19); do echo "cat $i" >"$T/src/cat.$i.jpg"; echo "dog $i" >"$T/src/dog.$i.jpg"; done

"$BIN" split --help | grep -q -- "--source" || fail "--help does not describe --source"
set +e
"$BIN" split --dest "$T/x" 2>"$T/err"; rc=$?
set -e
[ $rc = 2 ] || fail "missing --source: exit $rc, expected 2"
grep -q "source" "$T/err" || fail "missing --source: message does not say so"
set +e
"$BIN" split --source "$T/src" --dest "$T/x" --val abc 2>/dev/null; rc=$?
set -e
[ $rc = 2 ] || fail "--val abc: exit $rc, expected 2"
[ ! -e "$T/x" ] || fail "a usage error created DEST"

# Default: symbolic links, counts printed (20 per class: 14 / 3 / 3).
"$BIN" split --source "$T/src" --dest "$T/links" --seed 3 >"$T/out"
grep -Eq "^train +14 +14 +28$" "$T/out" || { cat "$T/out"; fail "train counts"; }
grep -Eq "^validation +3 +3 +6$" "$T/out" || { cat "$T/out"; fail "validation counts"; }
grep -Eq "^test +3 +3 +6$" "$T/out" || { cat "$T/out"; fail "test counts"; }
n_links=$(find "$T/links" -type l | wc -l)
[ "$n_links" = 40 ] || fail "expected 40 links, found $n_links"
first=$(find "$T/links/train/cats" -type l | head -1)
case "$(readlink "$first")" in /*) ;; *) fail "link target is not absolute: $(readlink "$first")";; esac

# --copy: regular files with the same bytes and the same split for the same seed.
"$BIN" split --source "$T/src" --dest "$T/copies" --seed 3 --copy >/dev/null
[ "$(find "$T/copies" -type l | wc -l)" = 0 ] || fail "--copy made links"
[ "$(find "$T/copies" -type f | wc -l)" = 40 ] || fail "--copy: expected 40 files"
for part in train validation test; do
  for cls in cats dogs; do
    a=$(cd "$T/links/$part/$cls" && ls | sort | tr '\n' ' ')
    b=$(cd "$T/copies/$part/$cls" && ls | sort | tr '\n' ' ')
    [ "$a" = "$b" ] || fail "$part/$cls differs between --link and --copy with the same seed"
  done
done
f=$(cd "$T/copies/test/dogs" && ls | head -1)
cmp -s "$T/copies/test/dogs/$f" "$T/src/$f" || fail "copied bytes differ for $f"

# Non-empty DEST: refused with exit 1 and a message; --force replaces.
set +e
"$BIN" split --source "$T/src" --dest "$T/links" 2>"$T/err"; rc=$?
set -e
[ $rc = 1 ] || fail "non-empty DEST: exit $rc, expected 1"
grep -q "not empty" "$T/err" || fail "non-empty DEST: message: $(cat "$T/err")"
"$BIN" split --source "$T/src" --dest "$T/links" --force --seed 4 >/dev/null
[ "$(find "$T/links" -type l | wc -l)" = 40 ] || fail "--force did not leave exactly 40 links"
echo "ok"
