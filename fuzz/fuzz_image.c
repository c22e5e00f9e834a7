/*
 * fuzz_image.c - libFuzzer harness for photo decoding: image_decode on any
 * bytes (JPEG, PNG, WebP, with or without EXIF), the way an upload reaches it.
 *
 * The input's last byte picks the options, so mutations reach every path:
 * bit 0 asks for a 64x64 hint (JPEG's reduced DCT scale), bit 1 ignores EXIF,
 * bit 2 picks the nearest-neighbour resize.  A decoded image is checked
 * against its promises (size within the limit, reduced no further than the
 * hint, every pixel readable) and sent on through image_resize and
 * image_to_input as a request would be.  The raw bytes also go straight to
 * the EXIF reader, which otherwise only sees what a codec extracted.
 */
#include <string.h>

#include "fuzz/fuzz.h"
#include "image/image.h"
#include "image/image_internal.h"

static int min_int(int a, int b)
{
    return a < b ? a : b;
}

int fuzz_image_one(const uint8_t *data, size_t size)
{
    int orientation = image_exif_orientation(data, size);
    FUZZ_CHECK(orientation >= 1 && orientation <= 8);

    unsigned sel = size ? data[size - 1] : 0;
    image_decode_opts opts = {FUZZ_IMAGE_MAX_PIXELS, 0, 0, 0};
    if (sel & 1)
        opts.hint_width = opts.hint_height = 64;
    opts.no_exif = (sel >> 1) & 1;
    image_filter filter = (sel & 4) ? IMAGE_FILTER_NEAREST : IMAGE_FILTER_BILINEAR;

    image img;
    int ow = -1, oh = -1;
    cd_err err;
    cd_err_clear(&err);
    if (image_decode(data, size, &opts, &img, &ow, &oh, &err) != 0) {
        FUZZ_CHECK(err.code != CD_OK && err.msg[0] != '\0');
        FUZZ_CHECK(img.rgb == NULL);
        return 0;
    }
    FUZZ_CHECK(image_sniff(data, size) != IMAGE_FORMAT_UNKNOWN);
    FUZZ_CHECK(img.rgb != NULL && img.width > 0 && img.height > 0);
    FUZZ_CHECK(ow > 0 && oh > 0 && (long)ow * oh <= FUZZ_IMAGE_MAX_PIXELS);
    FUZZ_CHECK(img.width <= ow && img.height <= oh);
    if (opts.hint_width) {
        /* A reduced scale must still cover the size asked for. */
        FUZZ_CHECK(img.width >= min_int(opts.hint_width, ow));
        FUZZ_CHECK(img.height >= min_int(opts.hint_height, oh));
    } else {
        FUZZ_CHECK(img.width == ow && img.height == oh);
    }
    /* Read every byte, so a short buffer shows up under ASan. */
    unsigned sum = 0;
    size_t n = (size_t)img.width * img.height * 3;
    for (size_t i = 0; i < n; i++)
        sum += img.rgb[i];
    (void)sum;

    image small;
    if (image_resize(&img, 24, 17, filter, &small, &err) == 0) {
        float in[24 * 17 * 3];
        image_to_input(&small, (cd_preprocess)(sel % 3), in);
        for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
            FUZZ_CHECK(in[i] == in[i]); /* no NaN from any pixel */
        image_free(&small);
    } else {
        FUZZ_CHECK(err.code == CD_ERR_NOMEM);
    }
    image_free(&img);
    return 0;
}
