"""large_photo.py - a large JPEG and its reduced-scale golden, made with Pillow.

    large_photo.py SOURCE OUT.jpg WIDTH HEIGHT [SIZE:GOLDEN.rgb ...]

Upscales SOURCE (a real photo) to WIDTH x HEIGHT (bicubic) and saves it as a
baseline JPEG (quality 90, 4:2:0).  For each SIZE, writes GOLDEN.rgb: raw
SIZE x SIZE x 3 RGB bytes made the way catdog claims to prepare a photo for a
SIZE x SIZE model input: decoded by libjpeg at a reduced DCT scale, asked for
with Image.draft("RGB", (2 SIZE, 2 SIZE)) (Pillow picks the largest 1/2, 1/4
or 1/8 scale whose output still covers that; catdog's IMAGE_DECODE_HINT asks
libjpeg for the same), then Image.resize(BILINEAR).  Prints one line per
golden: SIZE, the reduced size decoded, and the path.
"""
import sys

from PIL import Image


def main(argv):
    if len(argv) < 5:
        sys.stderr.write(__doc__)
        return 2
    src, out, w, h = argv[1], argv[2], int(argv[3]), int(argv[4])
    big = Image.open(src).convert("RGB").resize((w, h), Image.BICUBIC)
    big.save(out, "JPEG", quality=90, subsampling=2)
    for spec in argv[5:]:
        size, path = spec.split(":", 1)
        size = int(size)
        im = Image.open(out)
        im.draft("RGB", (2 * size, 2 * size))
        reduced = im.size
        if reduced == (w, h):
            raise SystemExit("draft did not reduce %dx%d for %d" % (w, h, size))
        im = im.convert("RGB").resize((size, size), Image.BILINEAR)
        with open(path, "wb") as f:
            f.write(im.tobytes())
        print("%d %dx%d %s" % (size, reduced[0], reduced[1], path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
