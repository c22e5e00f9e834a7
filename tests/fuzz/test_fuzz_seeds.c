/* tests/fuzz/test_fuzz_seeds.c - the fuzzers' seed corpora, made here and
 * checked here.
 *
 * Every seed is built by this test from nothing (pixels drawn and encoded with
 * the codec libraries and image_encode_*, models built from small configs and
 * written with keras_save, requests written out by hand): no corpus is
 * downloaded and nothing comes from ../shared.  Each seed must be accepted by
 * the parser it seeds (a fuzzer started from refused inputs explores only the
 * error paths) and must pass its harness in this normal build, and so must
 * a fixed set of blind mutations of it (bit flips, overwritten bytes, cuts,
 * splices; a seeded generator, so every run sees the same inputs).  In the
 * ASan build (make test-asan) that is a small fuzz run with full stacks and
 * the leak checker on, without libFuzzer.
 *
 * With CATDOG_FUZZ_SEEDS=DIR set, the seeds are also written to
 * DIR/<harness>/<name>, which is how tests/fuzz/fuzz_run.sh and `make fuzz`
 * get them; CATDOG_FUZZ_SEEDS_ONLY=<harness> writes that harness's only (each
 * fuzz run has a folder of its own, so parallel runs never rewrite each
 * other's seeds). */
#include "test_util.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/encoders.h"

#include "engine/model.h"
#include "fuzz/fuzz.h"
#include "image/image.h"
#include "modelfile/keras.h"
#include "modelfile/keras_internal.h"
#include "onnx/onnx.h"
#include "web/multipart.h"

/* ---- writing seeds ------------------------------------------------------- */

static void mkdir_or_exists(const char *path)
{
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        fail_msg("cannot create %s: %s", path, strerror(errno));
}

/* Writes one seed when CATDOG_FUZZ_SEEDS names a folder; otherwise nothing. */
static void seed_write(const char *harness, const char *name, const void *bytes, size_t len)
{
    const char *root = getenv("CATDOG_FUZZ_SEEDS");
    const char *only = getenv("CATDOG_FUZZ_SEEDS_ONLY");
    if (!root || !*root || (only && *only && strcmp(only, harness) != 0))
        return;
    char path[4096];
    mkdir_or_exists(root);
    snprintf(path, sizeof path, "%s/%s", root, harness);
    mkdir_or_exists(path);
    snprintf(path, sizeof path, "%s/%s/%s", root, harness, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        fail_msg("cannot write %s: %s", path, strerror(errno));
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* A harness entry point (fuzz.h). */
typedef int (*harness_fn)(const uint8_t *data, size_t size);

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Runs `n` blind mutations of bytes[0..len) through fn.  The generator's
 * state is seeded from the seed's own bytes, so the set is fixed per seed. */
static void mutate_through(harness_fn fn, const unsigned char *bytes, size_t len, int n)
{
    uint64_t st = 0x9E3779B97F4A7C15ull ^ len;
    for (size_t i = 0; i < len; i++)
        st = (st ^ bytes[i]) * 0x100000001B3ull;
    if (!st)
        st = 1;
    size_t cap = len * 2 + 64;
    unsigned char *buf = malloc(cap);
    assert_non_null(buf);
    for (int k = 0; k < n; k++) {
        memcpy(buf, bytes, len);
        size_t m = len;
        int edits = 1 + (int)(xorshift(&st) % 4);
        for (int e = 0; e < edits && m > 0; e++) {
            size_t at = (size_t)(xorshift(&st) % m);
            switch (xorshift(&st) % 5) {
            case 0: buf[at] ^= (unsigned char)(1u << (xorshift(&st) % 8)); break;
            case 1: buf[at] = (unsigned char)xorshift(&st); break;
            case 2: buf[at] = (unsigned char)(xorshift(&st) % 2 ? 0xff : 0); break;
            case 3: m = at; break; /* cut */
            case 4: {              /* copy a chunk of the input over another place */
                size_t from = (size_t)(xorshift(&st) % m), n_copy = (size_t)(xorshift(&st) % 64);
                if (at + n_copy > cap)
                    n_copy = cap - at;
                if (from + n_copy > m)
                    n_copy = m - from;
                memmove(buf + at, buf + from, n_copy);
                if (at + n_copy > m)
                    m = at + n_copy;
                break;
            }
            }
        }
        assert_int_equal(fn(buf, m), 0);
    }
    free(buf);
}

/* One seed: through its harness as is, then mutated `n_mutations` times,
 * then written out. */
static void seed(const char *harness, harness_fn fn, const char *name, const void *bytes, size_t len,
                 int n_mutations)
{
    assert_int_equal(fn(bytes, len), 0);
    mutate_through(fn, bytes, len, n_mutations);
    seed_write(harness, name, bytes, len);
}

/* ---- images -------------------------------------------------------------- */

/* A w x h picture with `channels` samples per pixel: gradients and a diagonal,
 * so no codec sees flat colour. */
static unsigned char *draw(int w, int h, int channels)
{
    unsigned char *px = malloc((size_t)w * h * channels);
    assert_non_null(px);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < channels; c++)
                px[((size_t)y * w + x) * channels + c] =
                    (unsigned char)(c == 3 ? (x + y) * 255 / (w + h) : (x * 37 + y * 11 + c * 80) ^ (x == y ? 0xff : 0));
    return px;
}

/* Checks an image seed decodes to the size it was drawn at (EXIF orientations
 * 5..8 swap the sides), runs it through the harness, writes it. */
static void image_seed(const char *name, unsigned char *bytes, size_t len, int w, int h)
{
    image img;
    int ow, oh;
    cd_err err;
    if (image_decode(bytes, len, NULL, &img, &ow, &oh, &err) != 0)
        fail_msg("image seed %s does not decode: %s", name, err.msg);
    assert_true((ow == w && oh == h) || (ow == h && oh == w));
    assert_int_equal(img.width, ow);
    image_free(&img);
    seed("image", fuzz_image_one, name, bytes, len, 48);
    free(bytes);
}

static void test_image_seeds(void **state)
{
    (void)state;
    const int W = 19, H = 13; /* odd sizes: partial MCUs, odd chroma */
    unsigned char *rgb = draw(W, H, 3), *rgba = draw(W, H, 4), *gray = draw(W, H, 1);
    unsigned char *cmyk = draw(W, H, 4);
    size_t n;

    /* The project's own encoders. */
    image im = {W, H, rgb};
    unsigned char *p; /* each seed is made first: n is set by the call */
    cd_err err;
    assert_int_equal(image_encode_jpeg(&im, 90, &p, &n, &err), 0);
    image_seed("own.jpg", p, n, W, H);
    assert_int_equal(image_encode_png(&im, &p, &n, &err), 0);
    image_seed("own.png", p, n, W, H);

    /* JPEG: progressive, grayscale, CMYK and YCCK (Adobe), EXIF both byte orders. */
    enc_jpeg_opts prog = {JCS_RGB, 0, 80, 1, NULL, 0};
    p = enc_jpeg(rgb, W, H, &prog, &n);
    image_seed("progressive.jpg", p, n, W, H);
    enc_jpeg_opts g = {JCS_GRAYSCALE, 0, 80, 0, NULL, 0};
    p = enc_jpeg(gray, W, H, &g, &n);
    image_seed("gray.jpg", p, n, W, H);
    enc_jpeg_opts c = {JCS_CMYK, 0, 80, 0, NULL, 0};
    p = enc_jpeg(cmyk, W, H, &c, &n);
    image_seed("cmyk.jpg", p, n, W, H);
    enc_jpeg_opts y = {JCS_CMYK, JCS_YCCK, 80, 0, NULL, 0};
    p = enc_jpeg(cmyk, W, H, &y, &n);
    image_seed("ycck.jpg", p, n, W, H);
    size_t en;
    unsigned char *exif = enc_exif_libexif(6, &en);
    enc_jpeg_opts e6 = {JCS_RGB, 0, 80, 0, exif, en};
    p = enc_jpeg(rgb, W, H, &e6, &n);
    image_seed("exif6-intel.jpg", p, n, W, H);
    free(exif);
    exif = enc_exif_by_hand(3, 1, &en);
    enc_jpeg_opts e3 = {JCS_RGB, 0, 80, 1, exif, en};
    p = enc_jpeg(rgb, W, H, &e3, &n);
    image_seed("exif3-motorola-progressive.jpg", p, n, W, H);
    free(exif);

    /* PNG: palette with transparency at 2 bits, 16-bit gray, interlaced RGBA, eXIf. */
    const png_color pal[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {9, 9, 9}};
    const unsigned char trns[4] = {255, 128, 0, 255};
    size_t rb2 = ((size_t)W * 2 + 7) / 8;
    unsigned char *packed = calloc(rb2 * H, 1);
    assert_non_null(packed);
    for (int yy = 0; yy < H; yy++)
        for (int x = 0; x < W; x++)
            packed[yy * rb2 + x / 4] |= (unsigned char)(((x + yy) & 3) << (6 - 2 * (x % 4)));
    enc_png_opts po = {.color_type = PNG_COLOR_TYPE_PALETTE, .bit_depth = 2, .palette = pal,
                       .palette_len = 4, .trns = trns, .trns_len = 4};
    p = enc_png(packed, rb2, W, H, &po, &n);
    image_seed("palette2-trns.png", p, n, W, H);
    free(packed);
    unsigned char *g16 = malloc((size_t)W * H * 2);
    assert_non_null(g16);
    for (int i = 0; i < W * H; i++) {
        g16[2 * i] = gray[i];
        g16[2 * i + 1] = (unsigned char)(i * 7);
    }
    enc_png_opts pg = {.color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 16};
    p = enc_png(g16, (size_t)W * 2, W, H, &pg, &n);
    image_seed("gray16.png", p, n, W, H);
    free(g16);
    enc_png_opts pa = {.color_type = PNG_COLOR_TYPE_RGB_ALPHA, .bit_depth = 8, .interlace = 1};
    p = enc_png(rgba, (size_t)W * 4, W, H, &pa, &n);
    image_seed("rgba-interlaced.png", p, n, W, H);
    exif = enc_exif_by_hand(8, 0, &en);
    enc_png_opts pe = {.color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 8, .exif = exif, .exif_len = en};
    p = enc_png(rgb, (size_t)W * 3, W, H, &pe, &n);
    image_seed("exif8.png", p, n, W, H);

    /* WebP: lossy, lossless with alpha, lossless with an EXIF chunk (VP8X). */
    p = enc_webp(rgb, W, H, 3, 0, &n);
    image_seed("lossy.webp", p, n, W, H);
    p = enc_webp(rgba, W, H, 4, 1, &n);
    image_seed("lossless-alpha.webp", p, n, W, H);
    size_t wn;
    unsigned char *plain = enc_webp(rgb, W, H, 3, 1, &wn);
    p = enc_webp_add_exif(plain, wn, W, H, exif, en, &n);
    image_seed("exif8.webp", p, n, W, H);
    free(plain);
    free(exif);
    free(rgb);
    free(rgba);
    free(gray);
    free(cmyk);
}

/* ---- Keras models -------------------------------------------------------- */


static void test_keras_json_seeds(void **state)
{
    (void)state;
    for (int i = 0; i < FUZZ_N_MODEL_CONFIGS; i++) {
        const char *name = FUZZ_MODEL_CONFIGS[i][0], *json = FUZZ_MODEL_CONFIGS[i][1];
        cd_err err;
        model *m = keras_from_json(json, name, &err);
        if (!m)
            fail_msg("config seed %s refused: %s", name, err.msg);
        /* And the same model as catdog's writer spells it (what keras_save stores). */
        char *written = keras_json_config(m, &err);
        assert_non_null(written);
        model_free(m);
        const char *text[2] = {json, written};
        for (int k = 0; k < 2; k++) {
            char file[128];
            snprintf(file, sizeof file, "%s%s.json", k ? "written-" : "", name);
            seed("keras_json", fuzz_keras_json_one, file, text[k], strlen(text[k]), 200);
        }
        free(written);
    }
}

/* The small configs exported to ONNX (those with a 1- or 2-unit head, which
 * the export writes as P(dog)): the ONNX reader's seeds. */
static void test_onnx_seeds(void **state)
{
    (void)state;
    int written = 0;
    for (int i = 0; i < FUZZ_N_MODEL_CONFIGS; i++) {
        const char *name = FUZZ_MODEL_CONFIGS[i][0], *json = FUZZ_MODEL_CONFIGS[i][1];
        cd_err err;
        model *m = keras_from_json(json, name, &err);
        if (!m)
            fail_msg("config seed %s refused: %s", name, err.msg);
        model_init_params(m, 7);
        size_t len = 0;
        unsigned char *bytes = onnx_save_memory(m, NULL, &len, &err);
        model_free(m);
        if (!bytes)
            continue;
        char file[128];
        snprintf(file, sizeof file, "%s.onnx", name);
        seed("onnx", fuzz_onnx_one, file, bytes, len, 300);
        free(bytes);
        written++;
    }
    assert_true(written > 0);
}

/* Whole-model files as keras_save writes them: seeds for the raw harness, and
 * (as one-byte recipes, "start from model i, change nothing") for the
 * structured one. */
static void test_keras_h5_seeds(void **state)
{
    (void)state;
    for (int i = 0; i < FUZZ_N_MODEL_CONFIGS; i++) {
        const char *name = FUZZ_MODEL_CONFIGS[i][0];
        size_t len;
        unsigned char *bytes = fuzz_model_h5(i, &len);
        assert_non_null(bytes);
        cd_err err;
        model *m = keras_from_json(FUZZ_MODEL_CONFIGS[i][1], name, &err);
        model *back = keras_load_memory(bytes, len, name, &err);
        if (!back)
            fail_msg("h5 seed from %s refused: %s", name, err.msg);
        size_t t1, t2, x;
        model_param_counts(m, &t1, &x, &x);
        model_param_counts(back, &t2, &x, &x);
        assert_int_equal(t1, t2);
        assert_int_equal(back->preprocess, (cd_preprocess)(i % 3));
        model_free(back);
        model_free(m);
        /* No blind mutations here: they would test libhdf5's parser, whose
         * known faults (docs/SECURITY.md) are not catdog's to fix. */
        char file[128];
        snprintf(file, sizeof file, "%s.h5", name);
        seed("keras_h5_raw", fuzz_keras_h5_raw_one, file, bytes, len, 0);
        free(bytes);

        uint8_t recipe = (uint8_t)i;
        snprintf(file, sizeof file, "%s.recipe", name);
        seed("keras_h5", fuzz_keras_h5_one, file, &recipe, 1, 0);
    }
}

/* Recipes that break the files in the ways the loader must refuse, each
 * checked against the error it must give. */
static void test_keras_h5_recipes_reach_the_loader_errors(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint8_t ops[12];
        size_t len;
        cd_code code;
        const char *says;
    } cases[] = {
        /* op 0 on "/" (target 0); attribute pick 0 -> KNOWN_ATTRS[0], model_config */
        {"no-model-config", {0, 0, 0, 0}, 4, CD_ERR_FORMAT, "model_config"},
        /* op 4: delete the first dataset in name order, the conv kernel's bias */
        {"missing-weight", {0, 4, 1}, 3, CD_ERR_FORMAT, "c1/bias:0"},
        /* op 5: replace that dataset by a float64 2x3 array */
        {"wrong-shape", {0, 5, 1, (2 << 3) | 0, 2, 3}, 6, CD_ERR_SHAPE, "(2, 3)"},
        /* op 1 on "/": catdog_preprocess (pick byte 10 -> KNOWN_ATTRS[5]) = "bogus" */
        {"bad-preprocess", {0, 1, 0, 10, 0, 5, 'b', 'o', 'g', 'u', 's'}, 11, CD_ERR_FORMAT, "bogus"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        unsigned char *h5 = fuzz_keras_h5_build(cases[i].ops, cases[i].len, &len);
        cd_err err;
        model *m = keras_load_memory(h5, len, cases[i].name, &err);
        free(h5);
        if (m)
            fail_msg("recipe %s: the broken file was accepted", cases[i].name);
        if (err.code != cases[i].code || !strstr(err.msg, cases[i].says))
            fail_msg("recipe %s: got '%s' (%s), expected %s and '%s'", cases[i].name, err.msg,
                     cd_code_name(err.code), cd_code_name(cases[i].code), cases[i].says);
        char file[128];
        snprintf(file, sizeof file, "%s.recipe", cases[i].name);
        seed("keras_h5", fuzz_keras_h5_one, file, cases[i].ops, cases[i].len, 20);
    }
}


/* ---- requests ------------------------------------------------------------ */

/* Multipart uploads as browsers and curl send them ("Content-Type value\n"
 * then the body), each with the parts it must give: count, then the name and
 * file name of the first and its data. */
static const struct {
    const char *name;
    const char *text;
    int n_parts;
    const char *field, *filename, *data;
} MULTIPART[] = {
    {"chrome.txt",
     "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW\n"
     "------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
     "Content-Disposition: form-data; name=\"inputfile\"; filename=\"cat.0.jpg\"\r\n"
     "Content-Type: image/jpeg\r\n\r\n"
     "\xff\xd8\xff\xe0JFIF\r\n--not-the-boundary\r\n"
     "------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
     "Content-Disposition: form-data; name=\"model\"\r\n\r\n"
     "both\r\n"
     "------WebKitFormBoundary7MA4YWxkTrZu0gW--\r\n",
     2, "inputfile", "cat.0.jpg", "\xff\xd8\xff\xe0JFIF\r\n--not-the-boundary"},
    {"curl.txt",
     "multipart/form-data; boundary=------------------------d74496d66958873e\n"
     "--------------------------d74496d66958873e\r\n"
     "Content-Disposition: form-data; name=\"inputfile\"; filename=\"dog.png\"\r\n"
     "Content-Type: application/octet-stream\r\n\r\n"
     "\x89PNG\r\n\x1a\n\r\n"
     "--------------------------d74496d66958873e--\r\n",
     1, "inputfile", "dog.png", "\x89PNG\r\n\x1a\n"},
    {"quoted-preamble-epilogue.txt",
     "multipart/form-data; charset=utf-8; boundary=\"simple boundary\"\n"
     "This is the preamble.\r\n"
     "--simple boundary\r\n"
     "Content-Disposition: form-data; name=\"inputfile\"; filename=\"C:\\\\photos\\\\x.webp\"\r\n\r\n"
     "RIFF\r\n"
     "--simple boundary--\r\n"
     "This is the epilogue.\r\n",
     1, "inputfile", "C:\\photos\\x.webp", "RIFF"},
    {"rfc5987-name.txt",
     "multipart/form-data; boundary=b\n"
     "--b\r\n"
     "Content-Disposition: form-data; name=inputfile; filename*=UTF-8''%D0%BA%D0%BE%D1%82.jpg\r\n\r\n"
     "x\r\n"
     "--b--",
     1, "inputfile", "\xd0\xba\xd0\xbe\xd1\x82.jpg", "x"},
    {"two-files-and-empty.txt",
     "multipart/form-data; boundary=XyZ\n"
     "--XyZ\r\n"
     "Content-Disposition: form-data; name=\"inputfile\"; filename=\"a.jpg\"\r\n\r\n"
     "aaaa\r\n"
     "--XyZ\r\n"
     "Content-Disposition: form-data; name=\"other\"; filename=\"b.jpg\"\r\n\r\n"
     "bb\r\n"
     "--XyZ\r\n"
     "Content-Disposition: form-data; name=\"extra\"; filename=\"\"\r\n"
     "Content-Type: application/octet-stream\r\n\r\n"
     "\r\n"
     "--XyZ--\r\n",
     3, "inputfile", "a.jpg", "aaaa"},
};

static void test_multipart_seeds(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof MULTIPART / sizeof MULTIPART[0]; i++) {
        const char *text = MULTIPART[i].text;
        const char *nl = strchr(text, '\n');
        char ct[256];
        snprintf(ct, sizeof ct, "%.*s", (int)(nl - text), text);
        char boundary[MULTIPART_BOUNDARY_MAX + 1];
        cd_err err;
        if (multipart_boundary(ct, boundary, sizeof boundary, &err) != 0)
            fail_msg("%s: boundary refused: %s", MULTIPART[i].name, err.msg);
        multipart_part parts[8];
        int n = 0;
        const unsigned char *body = (const unsigned char *)nl + 1;
        if (multipart_parse(body, strlen(nl + 1), boundary, parts, 8, &n, &err) != 0)
            fail_msg("%s: refused: %s", MULTIPART[i].name, err.msg);
        assert_int_equal(n, MULTIPART[i].n_parts);
        assert_string_equal(parts[0].name, MULTIPART[i].field);
        assert_string_equal(parts[0].filename, MULTIPART[i].filename);
        assert_int_equal(parts[0].len, strlen(MULTIPART[i].data));
        assert_memory_equal(parts[0].data, MULTIPART[i].data, parts[0].len);
        seed("multipart", fuzz_multipart_one, MULTIPART[i].name, text, strlen(text), 300);
    }
}

/* Request fields: method byte, path, Accept-Language, file name, form body. */
static void test_http_fields_seeds(void **state)
{
    (void)state;
    static const char *const FIELDS[][2] = {
        {"upload-file.txt", "\x00/upload/0123abcd.jpg\nru-RU,ru;q=0.9,en;q=0.8\ncat.1.jpg\nlabel=cat"},
        {"feedback.txt", "\x01/history/12/feedback\nen-GB;q=0.7, ru;q=0.3\n..\\..\\etc\\passwd\nlabel=dog&lang=en"},
        {"photo-traversal.txt", "\x00/photos/../catdog.db\n*\n\xd0\xba\xd0\xbe\xd1\x82 .jpg\nlang=ru&x=%41%2"},
        {"api.txt", "\x03/api/v1/predict\nde, fr;q=0.5\n \n model=binary+x&model=transfer"},
    };
    for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++)
        seed("http_fields", fuzz_http_fields_one, FIELDS[i][0], FIELDS[i][1], strlen(FIELDS[i][1]), 300);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_image_seeds),
        cmocka_unit_test(test_keras_json_seeds),
        cmocka_unit_test(test_keras_h5_seeds),
        cmocka_unit_test(test_keras_h5_recipes_reach_the_loader_errors),
        cmocka_unit_test(test_multipart_seeds),
        cmocka_unit_test(test_http_fields_seeds),
        cmocka_unit_test(test_onnx_seeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
