"""oracle_check.py - catdog's P(dog) against the independent reader's.

    oracle_check.py CATDOG MODEL_FOR_CATDOG MODEL_FOR_READER TOL [--disagree] PHOTO...

Runs `CATDOG predict --json --model MODEL_FOR_CATDOG PHOTO...` (its exit
status must be 0 and it must answer every photo) and keras_reader.py on
MODEL_FOR_READER for the same photos, and prints the largest difference.
Exit 0 when every |difference| <= TOL; with --disagree, exit 0 only when some
difference is larger than TOL (a mutated file must be caught).  The two model
arguments differ when catdog's input is a file the reader cannot take (a
head-only transfer file needs the backbone composed in) or, for the
mutation check, when the reader gets the mutated copy.
"""
import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True  # a test leaves nothing in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import keras_reader  # noqa: E402


def catdog_predict(catdog, model, photos, extra=()):
    r = subprocess.run([catdog, "predict", "--json", "--model", model, *extra, *photos],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit("FAIL: catdog predict exited %d: %s" % (r.returncode, r.stderr.strip()))
    got = {}
    for line in r.stdout.splitlines():
        j = json.loads(line)
        if "error" in j:
            raise SystemExit("FAIL: catdog predict: %s" % line)
        got[j["file"]] = j["probabilities"]["dog"]
    missing = [p for p in photos if p not in got]
    if missing:
        raise SystemExit("FAIL: catdog predict gave no answer for %s" % missing)
    return got


def main(argv):
    if len(argv) < 6:
        sys.stderr.write(__doc__)
        return 2
    catdog, cmodel, rmodel, tol = argv[1], argv[2], argv[3], float(argv[4])
    rest = argv[5:]
    disagree = rest and rest[0] == "--disagree"
    photos = rest[1:] if disagree else rest
    keras_reader.torch.set_num_threads(1)
    got = catdog_predict(catdog, cmodel, photos)
    kf = keras_reader.KerasFile(rmodel)
    worst, worst_photo = 0.0, None
    for p in photos:
        want = kf.p_dog(p)
        d = abs(got[p] - want)
        if d > worst:
            worst, worst_photo = d, p
        if not disagree and d > tol:
            print("FAIL: %s: catdog %.9g, reader %.9g, |diff| %.3g > %.3g"
                  % (p, got[p], want, d, tol))
            return 1
    print("%s vs reader(%s): %d photos, max |P(dog) diff| %.3g (%s), tolerance %.3g"
          % (os.path.basename(cmodel), os.path.basename(rmodel), len(photos), worst,
             os.path.basename(worst_photo or "-"), tol))
    if disagree and worst <= tol:
        print("FAIL: the reader agrees with catdog on a mutated file (max diff %.3g)" % worst)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
