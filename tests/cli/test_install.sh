#!/usr/bin/env bash
# test_install.sh - make install's result, as a packager and a service manager
# see it: installed into a temporary DESTDIR (what `make install` runs: cmake
# --install), the program run from / finds its models and web assets under
# <prefix>/share/catdog; every serve option is also CATDOG_<OPTION> and the
# command line wins; `man -l` renders the page made from the --help texts;
# `systemd-analyze verify` accepts the unit; `make uninstall` removes it all.
. "$CATDOG_SOURCE_DIR/tests/web/lib.sh"
require_tools curl python3 man cmake
STAGE="$WORK/stage"
PREFIX=/usr/local

DESTDIR="$STAGE" cmake --install "$BUILD_DIR" --prefix "$PREFIX" >"$WORK/install.log" 2>&1 ||
    fail "install into DESTDIR failed: $(tail -n 5 "$WORK/install.log")"
ROOT="$STAGE$PREFIX"
for f in bin/catdog share/man/man1/catdog.1 share/catdog/models/binary.h5 share/catdog/web/static/catdog.css \
    lib/systemd/system/catdog.service; do
    [ -f "$ROOT/$f" ] || fail "make install did not install $PREFIX/$f"
done
grep -qx "ExecStart=$PREFIX/bin/catdog serve" "$ROOT/lib/systemd/system/catdog.service" || fail "the unit does not start $PREFIX/bin/catdog"
ok "installed into DESTDIR: program, man page, models, web assets, systemd unit"

# The installed program, run from /, with no --models and no --assets.  A
# marker in the installed stylesheet shows the assets come from share/catdog,
# not from the source tree the program was built in.
echo '/* installed-copy-marker */' >>"$ROOT/share/catdog/web/static/catdog.css"
start_installed() {
    : >"$WORK/inst.out"
    (cd / && exec "$ROOT/bin/catdog" serve --port 0 --upload-dir "$WORK/up" --db "$WORK/inst.db" \
        ${BACKEND_ARGS[@]+"${BACKEND_ARGS[@]}"} "$@" >"$WORK/inst.out" 2>"$WORK/server.err") &
    SERVER_PID=$!
    local i
    for i in $(seq 1 600); do
        PORT=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$WORK/inst.out" | head -n 1)
        [ -z "$PORT" ] || { BASE="http://127.0.0.1:$PORT"; return 0; }
        kill -0 "$SERVER_PID" 2>/dev/null || fail "the installed program did not start: $(cat "$WORK/server.err")"
        sleep 0.1
    done
    fail "the installed program did not start"
}
CAT=$(photo jpeg 200 200 21)
DOG=$(photo png 200 200 22)
CATDOG_MAX_BATCH_PHOTOS=1 start_installed
# (the int8 copy, models/binary.int8.h5, is the one served by default)
grep -q "model binary .* from $ROOT/share/catdog/models/binary.int8.h5" "$WORK/server.err" ||
    fail "the installed program did not load its installed model: $(cat "$WORK/server.err")"
req GET /static/catdog.css
expect_status 200 "installed stylesheet"
body_has 'installed-copy-marker' "the stylesheet served is the installed one"
req GET /template
expect_status 200 "upload page"
req POST /api/v1/predict -F "inputfile=@$CAT"
expect_status 200 "predict with the installed program"
api_refusal 400 too_many_files -F "inputfile=@$CAT" -F "inputfile=@$DOG"
stop_server
ok "the installed program, run from /, finds its models and assets; CATDOG_MAX_BATCH_PHOTOS=1 applies"

# The command line wins over the environment.
CATDOG_MAX_BATCH_PHOTOS=1 start_installed --max-batch-photos 2
req POST /api/v1/predict -F "inputfile=@$CAT" -F "inputfile=@$DOG"
expect_status 200 "--max-batch-photos 2 over CATDOG_MAX_BATCH_PHOTOS=1"
json_check 'len(j["results"]) == 2' "two results"
stop_server
(cd / && CATDOG_PORT=notaport "$ROOT/bin/catdog" serve >/dev/null 2>"$WORK/env.err") && fail "a bad CATDOG_PORT was accepted"
grep -q "notaport" "$WORK/env.err" || fail "a bad CATDOG_PORT is not reported: $(cat "$WORK/env.err")"
ok "command line over CATDOG_<OPTION>; a bad value is refused"

# The man page: rendered by man, and made from the --help texts.
MANWIDTH=100 man -l "$ROOT/share/man/man1/catdog.1" >"$WORK/man.txt" 2>"$WORK/man.err" || fail "man -l: $(cat "$WORK/man.err")"
for want in 'catdog serve' '--max-batch-photos N' 'catdog predict' 'CATDOG_<OPTION>' 'catdog export-feedback'; do
    grep -qF -- "$want" "$WORK/man.txt" || fail "the man page lacks '$want'"
done
"$CATDOG_BIN" serve --help | grep -- '--max-batch-photos' | tr -s ' ' >"$WORK/help.line"
grep -- '--max-batch-photos' "$WORK/man.txt" | tr -s ' ' | grep -qF -- "$(sed 's/^ //' "$WORK/help.line")" ||
    fail "the man page's serve options differ from serve --help"
ok "man -l renders catdog.1, made from every command's --help"

# systemd-analyze verify needs the program where the unit says; install once
# more to a real prefix under $WORK for that.
if command -v systemd-analyze >/dev/null 2>&1; then
    DESTDIR= cmake --install "$BUILD_DIR" --prefix "$WORK/pfx" >"$WORK/install2.log" 2>&1 || fail "install to $WORK/pfx failed"
    MANPATH="$WORK/pfx/share/man" systemd-analyze verify "$WORK/pfx/lib/systemd/system/catdog.service" \
        >"$WORK/verify.out" 2>&1 || fail "systemd-analyze verify: $(cat "$WORK/verify.out")"
    for k in 'ProtectSystem=strict' 'DynamicUser=yes' 'NoNewPrivileges=yes' 'ProtectHome=yes'; do
        grep -qx "$k" "$WORK/pfx/lib/systemd/system/catdog.service" || fail "the unit lacks $k"
    done
    ok "systemd-analyze verify accepts catdog.service (dedicated user, ProtectSystem=strict, ...)"
else
    NO_VERIFY=1
fi

# make uninstall removes exactly what the last install wrote (the DESTDIR one is re-done first).
DESTDIR="$STAGE" cmake --install "$BUILD_DIR" --prefix "$PREFIX" >/dev/null 2>&1 || fail "reinstall failed"
make -s -C "$CATDOG_SOURCE_DIR" uninstall BUILD="$BUILD_DIR" DESTDIR="$STAGE" >"$WORK/uninstall.log" 2>&1 ||
    fail "make uninstall: $(cat "$WORK/uninstall.log")"
left=$(find "$STAGE" -type f | head -n 5)
[ -z "$left" ] || fail "make uninstall left files: $left"
ok "make uninstall removes every installed file"

echo "all $N_CHECKS checks passed"
[ -z "${NO_VERIFY:-}" ] || skip "systemd-analyze is not installed (Debian package systemd); the unit was not verified"
