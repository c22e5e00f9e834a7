#!/usr/bin/env bash
# tests/cli/test_evaluate_report.sh - `catdog evaluate --report`: the page for
# one model and for two side by side, on 40 photos from ../shared made into
# five sizes and shapes with Pillow (skips, 77, without ../shared).  Checks:
#   - self-contained: no http:// or https:// anywhere, no <script>, <link>,
#     url(), and every src is a data: URI;
#   - the three SVG charts (ROC, precision-recall, reliability) with curves;
#   - each confusion cell equals evaluate --json's confusion for that model;
#   - each model shows min(24, errors) mistakes, errors from the JSON (a run
#     with --classes dog,cat makes more than 24), most confident first, and
#     every thumbnail decodes (Pillow) as a JPEG of at most 128 px a side;
#   - the photo counts per size and orientation group equal those computed
#     here from the photos Pillow wrote (the rules of report/stats.h);
#   - the legend's AUC equals the JSON's to 4 decimals;
#   - file and model names are HTML-escaped: a photo and a model file named
#     with < > & " ' appear escaped, never raw.
set -u
bin=${CATDOG_BIN:?}
src=${CATDOG_SOURCE_DIR:?}
shared=${CATDOG_SHARED:-$src/../shared}
PY=/usr/bin/python3
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d /tmp/catdog-report.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# A usage error needs no photo.
rc=0; "$bin" evaluate --data x --model a --model b --model c --model d --model e >/dev/null 2>"$tmp/err" || rc=$?
[ $rc -eq 2 ] || fail "five --model: exit status $rc, expected 2"
grep -q -- "--model may be given at most 4 times" "$tmp/err" || fail "five --model: $(cat "$tmp/err")"
echo "ok - more than 4 models is a usage error"

train=$shared/data/dogs-vs-cats/train
if [ ! -d "$train" ]; then
    echo "SKIP: $train not found (set CATDOG_SHARED); evaluate --report not run"
    exit 77
fi
weights=$shared/weights
[ -f "$weights/squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5" ] || fail "$weights has no SqueezeNet weights although $shared is present"
"$PY" -c 'import PIL, numpy' 2>/dev/null || fail "Pillow/NumPy missing for /usr/bin/python3 (scripts/install-deps.sh installs them)"

# 20 cats and 20 dogs in five shapes; dog.7900 goes into cats/ under a name
# with HTML's special characters (a mistake whenever the model sees a dog).
"$PY" - "$train" "$tmp/data" <<'PY' || fail "Pillow could not make the test folder"
import json, os, sys
from PIL import Image
train, out = sys.argv[1], sys.argv[2]
shapes = [None, (320, 240), 'crop', (300, 460), (480, 470)]
sizes = {}
for cls in ('cat', 'dog'):
    os.makedirs('%s/%ss' % (out, cls), exist_ok=True)
    for k, i in enumerate(range(7900, 7920)):
        im = Image.open('%s/%s.%d.jpg' % (train, cls, i)).convert('RGB')
        s = shapes[k % 5]
        if s == 'crop':
            im = im.crop((0, 30, 200, 170))            # 200x140: landscape, under 150
        elif s:
            im = im.resize(s, Image.BILINEAR)
        folder, name = '%ss' % cls, '%s.%d.jpg' % (cls, i)
        if (cls, i) == ('dog', 7900):
            folder, name = 'cats', 'odd <b>&"name\'.jpg'
        im.save('%s/%s/%s' % (out, folder, name), quality=92)
        sizes['%s/%s' % (folder, name)] = im.size
json.dump(sizes, open(out + '/../sizes.json', 'w'))
PY
cp "$src/models/binary.h5" "$tmp/bin <&\"'>.h5"

# evaluate ARGS... > OUT: exits 0, no sanitizer report.
evaluate() {
    local out=$1 rc=0; shift
    CATDOG_WEIGHTS_DIR=$weights "$bin" evaluate --json --data "$tmp/data" "$@" >"$out" 2>"$tmp/err" || rc=$?
    [ $rc -eq 0 ] || fail "catdog evaluate $*: exit status $rc: $(cat "$tmp/err")"
    ! grep -qE 'Sanitizer|runtime error:' "$tmp/err" || fail "catdog evaluate $*: sanitizer report: $(cat "$tmp/err")"
}
evaluate "$tmp/one.json" --model "$tmp/bin <&\"'>.h5" --report "$tmp/one.html"
evaluate "$tmp/two.json" --model "$src/models/binary.h5" --model "$src/models/transfer.h5" --report "$tmp/two.html"
# Classes read the wrong way round: most verdicts wrong, so the 24 cap applies.
evaluate "$tmp/swap.json" --model "$src/models/binary.h5" --classes dog,cat --report "$tmp/swap.html"

"$PY" - "$tmp" <<'PY' || fail "the report pages are not what evaluate --json says"
import base64, io, json, re, sys
from PIL import Image
d = sys.argv[1]
sizes = json.load(open(d + '/sizes.json'))

def size_group(w, h):
    s = min(w, h)
    return 0 if s < 150 else 1 if s < 250 else 2 if s < 350 else 3 if s < 450 else 4

def orientation(w, h):
    lo, hi = min(w, h), max(w, h)
    return 2 if hi <= 1.05 * lo else 0 if w > h else 1

want_size, want_orient = [0] * 5, [0] * 3
for w, h in sizes.values():
    want_size[size_group(w, h)] += 1
    want_orient[orientation(w, h)] += 1
assert all(want_size[g] for g in (0, 1, 2, 4)) and all(want_orient), (want_size, want_orient)

def check(page, jsonl, n_models):
    html = open('%s/%s' % (d, page), encoding='utf-8').read()
    runs = [json.loads(l) for l in open('%s/%s' % (d, jsonl))]
    assert len(runs) == n_models, (page, len(runs))
    for bad in ('http://', 'https://', '<script', '<link', 'url(', '<iframe', '<object'):
        assert bad not in html.lower(), '%s contains %r' % (page, bad)
    srcs = re.findall(r'\b(?:src|href)\s*=\s*"([^"]*)"', html)
    assert srcs and all(s.startswith('data:image/jpeg;base64,') for s in srcs), [s[:40] for s in srcs if not s.startswith('data:')]
    svgs = re.findall(r'<svg\b.*?</svg>', html, re.S)
    assert len(svgs) == 3, '%s: %d charts' % (page, len(svgs))
    for name, svg in zip(('ROC', 'Precision-recall', 'Reliability'), svgs):
        assert name in svg and svg.count('<polyline') >= 1 + n_models, (page, name)
    cells = {(int(m), int(t), int(p)): int(v) for m, t, p, v in re.findall(
        r'<td class="cm \w+" data-model="(\d)" data-true="(\d)" data-pred="(\d)">(\d+)</td>', html)}
    assert len(cells) == 4 * n_models, (page, cells)
    aucs = [float(a) for a in re.findall(r': AUC (\d\.\d{4})<', html)][::-1]  # the legend lists the last model first
    for m, r in enumerate(runs):
        assert r['n'] == 40, r
        for t in range(2):
            for p in range(2):
                assert cells[(m, t, p)] == r['confusion'][t][p], (page, m, t, p, cells[(m, t, p)], r['confusion'])
        errors = r['confusion'][0][1] + r['confusion'][1][0]
        block = re.search(r'<div class="mistakes" data-model="%d">(.*?)</div>' % m, html, re.S).group(1)
        figs = re.findall(r'<figure class="mistake">(.*?)</figure>', block, re.S)
        assert len(figs) == min(24, errors), (page, m, len(figs), errors)
        shown = [float(x) for x in re.findall(r'P\(dog\) (\d\.\d{4}), is a', block)]
        conf = [max(x, 1 - x) for x in shown]
        assert len(shown) == len(figs) and conf == sorted(conf, reverse=True), (page, m, shown)
        assert all(c >= 0.5 for c in conf), shown
        for f in figs:
            b64 = re.search(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', f).group(1)
            im = Image.open(io.BytesIO(base64.b64decode(b64, validate=True)))
            im.load()
            assert im.format == 'JPEG' and max(im.size) <= 128 and min(im.size) >= 1, (im.format, im.size)
        groups = {(by, int(g)): int(v) for mm, by, g, v in re.findall(
            r'<td class="grp" data-model="(\d)" data-by="(\w+)" data-group="(\d)">(\d+)</td>', html) if int(mm) == m}
        assert [groups[('size', g)] for g in range(5)] == want_size, (page, m, groups, want_size)
        assert [groups[('orientation', g)] for g in range(3)] == want_orient, (page, m, groups, want_orient)
        assert abs(aucs[m] - r['auc']) <= 5.1e-5, (page, m, aucs, r['auc'])
        print('   %s model %d: confusion %s, %d mistakes shown, AUC %.4f, tta %s' % (page, m, r['confusion'], len(figs), aucs[m], r['tta']))
    assert '<b>' not in html and '<&' not in html
    return html, runs

one, runs = check('one.html', 'one.json', 1)
assert 'bin &lt;&amp;&quot;&#39;&gt;.h5' in one, 'the model name is not shown escaped'
check('two.html', 'two.json', 2)
_, swap = check('swap.html', 'swap.json', 1)
assert swap[0]['confusion'][0][1] + swap[0]['confusion'][1][0] > 24, swap[0]['confusion']
PY
echo "ok - evaluate --report: self-contained pages whose numbers are evaluate --json's, for one and two models, at most 24 mistakes"

# The odd-named photo: if catdog calls it a dog it must be among the mistakes, escaped.
"$bin" predict --json --model "$src/models/binary.h5" "$tmp/data/cats/odd <b>&\"name'.jpg" >"$tmp/odd.json" 2>"$tmp/err" ||
    fail "catdog predict on the odd-named photo: $(cat "$tmp/err")"
"$PY" - "$tmp" <<'PY' || fail "the odd-named photo, called a dog, is not shown escaped among the mistakes"
import json, sys
d = sys.argv[1]
p = json.loads(open(d + '/odd.json').readline())['p_dog']
html = open(d + '/one.html', encoding='utf-8').read()
shown = 'cats/odd &lt;b&gt;&amp;&quot;name&#39;.jpg' in html
print('   odd-named dog in cats/: P(dog) %.4f, shown %s' % (p, shown))
assert shown == (p >= 0.5)
PY
echo "ok - file and model names are HTML-escaped"
echo "PASS"
