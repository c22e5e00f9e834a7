/*
 * image_exif.c - EXIF orientation: reading the tag (libexif) and turning the
 * stored pixels the way a camera meant them to be shown.
 *
 * Phones store photos in sensor orientation and record in EXIF's Orientation
 * tag (IFD0, 0x0112) how to display them.  The codecs hand us the raw EXIF
 * block; image_decode calls image_apply_orientation once after decoding.
 *
 * The eight values, as the display pixel D(x, y) taken from the stored
 * pixel S of a w x h stored image:
 *   1 D(x,y) = S(x, y)                 identity
 *   2 D(x,y) = S(w-1-x, y)             mirror left-right
 *   3 D(x,y) = S(w-1-x, h-1-y)         rotate 180
 *   4 D(x,y) = S(x, h-1-y)             mirror top-bottom
 *   5 D(x,y) = S(y, x)                 transpose (h x w)
 *   6 D(x,y) = S(y, h-1-x)             rotate 90 clockwise (h x w)
 *   7 D(x,y) = S(w-1-y, h-1-x)         transverse (h x w)
 *   8 D(x,y) = S(w-1-y, x)             rotate 90 counter-clockwise (h x w)
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <libexif/exif-data.h>
#include <libexif/exif-utils.h>

#include "image/image_internal.h"

int image_exif_orientation(const unsigned char *data, size_t len)
{
    static const unsigned char exif_hdr[6] = {'E', 'x', 'i', 'f', 0, 0};
    if (!data || len < 8 || len > (size_t)UINT_MAX - 6)
        return 1;

    /* libexif finds its data after an "Exif\0\0" header (JPEG APP1 style);
     * PNG eXIf and WebP EXIF chunks hold the bare TIFF block, so add one. */
    unsigned char *copy = NULL;
    const unsigned char *p = data;
    size_t n = len;
    if (memcmp(data, exif_hdr, 6) != 0) {
        copy = malloc(len + 6);
        if (!copy)
            return 1; /* orientation is best effort: an unrotated photo still classifies */
        memcpy(copy, exif_hdr, 6);
        memcpy(copy + 6, data, len);
        p = copy;
        n = len + 6;
    }

    int orientation = 1;
    ExifData *ed = exif_data_new();
    if (ed) {
        /* Do not let libexif "fix" (add mandatory tags to) data we only read. */
        exif_data_unset_option(ed, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
        exif_data_load_data(ed, p, (unsigned int)n);
        ExifEntry *e = exif_content_get_entry(ed->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
        if (e && e->format == EXIF_FORMAT_SHORT && e->components >= 1 && e->data &&
            e->size >= 2)
            orientation = exif_get_short(e->data, exif_data_get_byte_order(ed));
        exif_data_unref(ed);
    }
    free(copy);
    return orientation >= 1 && orientation <= 8 ? orientation : 1;
}

int image_orientation_swaps(int orientation)
{
    return orientation >= 5 && orientation <= 8;
}

int image_apply_orientation(image *img, int orientation, cd_err *err)
{
    if (orientation <= 1 || orientation > 8)
        return 0;
    const int w = img->width, h = img->height;
    const int swap = image_orientation_swaps(orientation);
    const int dw = swap ? h : w, dh = swap ? w : h;
    image dst;
    if (image_alloc(&dst, dw, dh, err) != 0)
        return -1;
    const unsigned char *s = img->rgb;
    for (int y = 0; y < dh; y++) {
        unsigned char *drow = dst.rgb + (size_t)y * dw * 3;
        for (int x = 0; x < dw; x++) {
            int sx, sy;
            switch (orientation) {
            case 2: sx = w - 1 - x; sy = y; break;
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;
            case 4: sx = x; sy = h - 1 - y; break;
            case 5: sx = y; sy = x; break;
            case 6: sx = y; sy = h - 1 - x; break;
            case 7: sx = w - 1 - y; sy = h - 1 - x; break;
            default: sx = w - 1 - y; sy = x; break; /* 8 */
            }
            const unsigned char *sp = s + ((size_t)sy * w + sx) * 3;
            drow[3 * x + 0] = sp[0];
            drow[3 * x + 1] = sp[1];
            drow[3 * x + 2] = sp[2];
        }
    }
    free(img->rgb);
    *img = dst;
    return 0;
}
