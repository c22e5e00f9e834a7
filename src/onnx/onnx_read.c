/*
 * onnx_read.c - an ONNX graph onto catdog's engine (see onnx.h).
 *
 * The file is unpacked by the protobuf-c code generated from onnx.proto, with
 * an allocator whose budget is a fixed multiple of the file's size.  Nodes are
 * then walked once, in file order (ONNX requires a topological order, so a
 * node reading a value no earlier node made means a cyclic or unsorted graph),
 * and every value gets a description:
 *   - a feature map: an engine layer's NHWC output standing for ONNX's NCHW;
 *   - a vector (N, C): an engine layer's rank-2 output; `rank4` marks the
 *     (N, C, 1, 1) ONNX keeps after a global pooling, `chw` one that came from
 *     flattening an NCHW map, whose order differs from the engine's NHWC
 *     flatten (the next Gemm/MatMul permutes its rows instead);
 *   - a map transposed to NHWC (Keras-style Flatten ahead, as catdog writes);
 *   - a constant: an initializer, a Constant node or folded shape arithmetic.
 * Weights are converted once (OIHW to HWIO; Gemm's B to [in, out]) into the
 * engine's layers through its public constructors (model_add), and the engine
 * checks the whole graph at the end (model_infer_shapes).
 */
#include "onnx/onnx.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/fileio.h"
#include "onnx/onnx_internal.h"

/* protobuf-c may allocate this many times the file's size: its structs are
 * larger than their encodings (an empty NodeProto is 2 bytes on disk and about
 * 100 in memory), weights are copied once. */
#define UNPACK_BUDGET_FACTOR 16
#define UNPACK_BUDGET_EXTRA ((size_t)1 << 20)
/* Largest constant tensor read (elements); VGG16's largest is 102 M. */
#define MAX_TENSOR_ELEMS ((size_t)1 << 28)
#define MAX_RANK 8
/* Stands for the (dynamic) batch size in folded shape arithmetic. */
#define BATCH_DIM INT64_MIN

/* V_DOG: the dog column of a 2-unit layer (what catdog writes as output "p_dog"
 * for a softmax head); only the graph output may be one. */
typedef enum vkind { V_MAP, V_VEC, V_MAP_NHWC, V_CONST, V_DOG } vkind;

typedef struct val {
    const char *name;
    int defined;     /* 0 until an initializer, input or node output sets it */
    int uses;        /* readers: node inputs plus graph outputs */
    vkind kind;
    int layer;       /* V_MAP, V_VEC, V_MAP_NHWC: the engine layer holding it */
    int c, h, w;     /* map shape; a vector's length in c */
    int rank4;       /* V_VEC: ONNX shape (N, C, 1, 1) */
    int chw, ch, hh, ww; /* V_VEC: flattened NCHW order of a (ch, hh, ww) map */
    /* V_CONST */
    const Onnx__TensorProto *tp; /* an initializer not decoded yet */
    int is_int;
    int rank;
    int64_t dims[MAX_RANK];
    size_t n;
    const float *f;
    const int64_t *i;
} val;

typedef struct reader {
    const char *source;
    const char *dir;        /* folder of the file, for external data; NULL from memory */
    const onnx_load_opts *opts;
    onnx_arena arena;       /* protobuf-c's allocations (budgeted) */
    onnx_arena scratch;     /* our own small pieces (budgeted with the same bound) */
    int opset;
    val *vals;
    size_t n_vals, cap_vals;
    int *table;             /* open addressing: index into vals + 1, 0 = empty */
    size_t table_cap;
    model *m;
    cd_err *err;
    const Onnx__NodeProto *node;  /* the node being mapped, for messages */
    size_t node_index;
} reader;

/* ---- errors ------------------------------------------------------------- */

static const char *node_label(reader *r, char *buf, size_t n)
{
    if (r->node && r->node->name && r->node->name[0])
        snprintf(buf, n, "%s", r->node->name);
    else
        snprintf(buf, n, "#%zu", r->node_index);
    return buf;
}

/* "node 'conv1' (Conv): <what>" */
static int node_fail(reader *r, cd_code code, const char *what)
{
    char b[LAYER_NAME_MAX];
    return cd_err_set(r->err, code, "node '%s' (%s): %s", node_label(r, b, sizeof b),
                      r->node && r->node->op_type ? r->node->op_type : "?", what);
}

#define NODE_FAIL(r, code, ...)                                  \
    do {                                                         \
        char msg_[CD_ERR_MSG_MAX / 2];                           \
        snprintf(msg_, sizeof msg_, __VA_ARGS__);                \
        return node_fail((r), (code), msg_);                     \
    } while (0)

static int oom(reader *r)
{
    if (r->scratch.refused)
        return cd_err_set(r->err, CD_ERR_LIMIT,
                          "the graph needs more than %zu bytes of memory, too much for a file its "
                          "size",
                          r->scratch.budget);
    return cd_err_set(r->err, CD_ERR_NOMEM, "out of memory reading the ONNX graph");
}

/* ---- the value table ---------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The value called name; created (undefined, no uses) when `create`. */
static val *lookup(reader *r, const char *name, int create)
{
    size_t mask = r->table_cap - 1;
    for (size_t k = hash_str(name) & mask;; k = (k + 1) & mask) {
        int idx = r->table[k];
        if (idx == 0) {
            if (!create)
                return NULL;
            if (r->n_vals == r->cap_vals) {
                oom(r);   /* sized up front: more names than counted cannot happen */
                return NULL;
            }
            val *v = &r->vals[r->n_vals++];
            memset(v, 0, sizeof *v);
            v->name = name;
            v->layer = -1;
            r->table[k] = (int)r->n_vals;
            return v;
        }
        if (strcmp(r->vals[idx - 1].name, name) == 0)
            return &r->vals[idx - 1];
    }
}

/* An input of the current node: must exist and be defined by now. */
static val *input(reader *r, size_t k)
{
    const Onnx__NodeProto *nd = r->node;
    if (k >= nd->n_input || !nd->input[k][0]) {
        node_fail(r, CD_ERR_FORMAT, "missing input");
        return NULL;
    }
    val *v = lookup(r, nd->input[k], 0);
    if (!v || !v->defined) {
        char msg[CD_ERR_MSG_MAX / 2];
        snprintf(msg, sizeof msg,
                 "reads '%.60s', which no earlier node, input or initializer makes (the graph "
                 "is cyclic or not topologically sorted)",
                 nd->input[k]);
        node_fail(r, CD_ERR_FORMAT, msg);
        return NULL;
    }
    return v;
}

/* The current node's output k, to be defined by the caller. */
static val *output(reader *r, size_t k)
{
    const Onnx__NodeProto *nd = r->node;
    if (k >= nd->n_output || !nd->output[k][0]) {
        node_fail(r, CD_ERR_FORMAT, "has no output");
        return NULL;
    }
    val *v = lookup(r, nd->output[k], 1);
    if (!v)
        return NULL;
    if (v->defined) {
        node_fail(r, CD_ERR_FORMAT, "writes a value an earlier node or initializer already made");
        return NULL;
    }
    return v;
}

/* ---- attributes --------------------------------------------------------- */

static const Onnx__AttributeProto *attr(reader *r, const char *name)
{
    for (size_t i = 0; i < r->node->n_attribute; i++)
        if (r->node->attribute[i]->name && strcmp(r->node->attribute[i]->name, name) == 0)
            return r->node->attribute[i];
    return NULL;
}

static int64_t attr_i(reader *r, const char *name, int64_t dflt)
{
    const Onnx__AttributeProto *a = attr(r, name);
    return a && a->has_i ? a->i : dflt;
}

static float attr_f(reader *r, const char *name, float dflt)
{
    const Onnx__AttributeProto *a = attr(r, name);
    return a && a->has_f ? a->f : dflt;
}

/* Copies up to max ints of attribute name into out; returns how many (0 when absent). */
static size_t attr_ints(reader *r, const char *name, int64_t *out, size_t max)
{
    const Onnx__AttributeProto *a = attr(r, name);
    if (!a)
        return 0;
    size_t n = a->n_ints < max ? a->n_ints : max;
    if (n)   /* an empty list has no array (memcpy from NULL is undefined) */
        memcpy(out, a->ints, n * sizeof *out);
    return a->n_ints > max ? max + 1 : n;
}

static const char *attr_s(reader *r, const char *name, char *buf, size_t n)
{
    const Onnx__AttributeProto *a = attr(r, name);
    if (!a || !a->has_s)
        return NULL;
    size_t k = a->s.len < n - 1 ? a->s.len : n - 1;
    if (k)
        memcpy(buf, a->s.data, k);
    buf[k] = '\0';
    return buf;
}

/* ---- constants ---------------------------------------------------------- */

static int shape_str(const int64_t *dims, int rank, char *buf, size_t n)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "(");
    for (int i = 0; i < rank && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (o < n)
        snprintf(buf + o, n - o, ")");
    return 0;
}

/* Reads the external data of t (data_location EXTERNAL) into the scratch arena. */
static const void *read_external(reader *r, const Onnx__TensorProto *t, size_t bytes)
{
    const char *tn = t->name ? t->name : "";
    const char *where = NULL;
    long long off = 0, length = -1;
    for (size_t i = 0; i < t->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = t->external_data[i];
        if (!e->key || !e->value)
            continue;
        if (strcmp(e->key, "location") == 0)
            where = e->value;
        else if (strcmp(e->key, "offset") == 0)
            off = strtoll(e->value, NULL, 10);
        else if (strcmp(e->key, "length") == 0)
            length = strtoll(e->value, NULL, 10);
    }
    if (!r->dir) {
        cd_err_set(r->err, CD_ERR_UNSUPPORTED,
                   "tensor '%.60s' keeps its data in an external file; load the model from a path",
                   tn);
        return NULL;
    }
    /* The location is relative to the model's folder and must stay inside it. */
    if (!where || !where[0] || where[0] == '/' || strstr(where, "..")) {
        cd_err_set(r->err, CD_ERR_FORMAT, "tensor '%.60s': bad external data location '%.60s'",
                   tn, where ? where : "");
        return NULL;
    }
    if (off < 0 || (length >= 0 && (size_t)length != bytes)) {
        cd_err_set(r->err, CD_ERR_FORMAT,
                   "tensor '%.60s': external data offset %lld / length %lld do not fit its %zu bytes",
                   tn, off, length, bytes);
        return NULL;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", r->dir, where);
    FILE *f = fopen(path, "rb");
    if (!f) {
        cd_err_set(r->err, CD_ERR_NOTFOUND, "tensor '%.60s': external data file %.200s: %s", tn,
                   path, strerror(errno));
        return NULL;
    }
    void *buf = NULL;
    long long size = -1;
    if (fseeko(f, 0, SEEK_END) == 0)
        size = (long long)ftello(f);
    if (size < 0 || (unsigned long long)off + bytes > (unsigned long long)size) {
        cd_err_set(r->err, CD_ERR_FORMAT,
                   "tensor '%.60s': external data file %.200s holds %lld bytes, fewer than offset "
                   "%lld + %zu",
                   tn, path, size, off, bytes);
    } else if (!(buf = onnx_arena_alloc(&r->scratch, bytes ? bytes : 1))) {
        oom(r);
    } else if (fseeko(f, (off_t)off, SEEK_SET) != 0 || fread(buf, 1, bytes, f) != bytes) {
        cd_err_set(r->err, CD_ERR_IO, "tensor '%.60s': cannot read %.200s", tn, path);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* Decodes an initializer or Constant tensor into v (V_CONST), checking that
 * its data holds exactly what its shape says before anything is allocated. */
static int decode_tensor(reader *r, const Onnx__TensorProto *t, val *v)
{
    const char *tn = t->name ? t->name : "";
    if (t->n_dims > MAX_RANK)
        return cd_err_set(r->err, CD_ERR_UNSUPPORTED, "tensor '%.60s' has rank %zu (at most %d)", tn,
                          t->n_dims, MAX_RANK);
    size_t n = 1;
    char shp[160];
    shape_str(t->dims, (int)t->n_dims, shp, sizeof shp);
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0)
            return cd_err_set(r->err, CD_ERR_FORMAT, "tensor '%.60s' has a negative dimension %s",
                              tn, shp);
        if (t->dims[i] > 0 && n > MAX_TENSOR_ELEMS / (size_t)t->dims[i])
            return cd_err_set(r->err, CD_ERR_LIMIT,
                              "tensor '%.60s' has shape %s, over %zu elements", tn, shp,
                              MAX_TENSOR_ELEMS);
        n *= (size_t)t->dims[i];
        v->dims[i] = t->dims[i];
    }
    if (n > MAX_TENSOR_ELEMS)
        return cd_err_set(r->err, CD_ERR_LIMIT, "tensor '%.60s' has shape %s, over %zu elements",
                          tn, shp, MAX_TENSOR_ELEMS);
    v->rank = (int)t->n_dims;
    v->n = n;
    v->kind = V_CONST;
    int type = t->has_data_type ? t->data_type : 0;
    size_t esize;
    if (type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        esize = sizeof(float), v->is_int = 0;
    else if (type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64)
        esize = sizeof(int64_t), v->is_int = 1;
    else
        return cd_err_set(r->err, CD_ERR_UNSUPPORTED,
                          "tensor '%.60s' has data type %d; only float32 (1) and int64 (7) are read",
                          tn, type);
    const void *data = NULL;
    size_t have;
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        if (!(data = read_external(r, t, n * esize)))
            return -1;
        have = n;
    } else if (t->has_raw_data) {
        data = t->raw_data.data;
        have = t->raw_data.len % esize ? (size_t)-1 : t->raw_data.len / esize;
    } else if (!v->is_int) {
        data = t->float_data;
        have = t->n_float_data;
    } else {
        data = t->int64_data;
        have = t->n_int64_data;
    }
    if (have != n) {
        size_t bytes = t->has_raw_data ? t->raw_data.len : have * esize;
        return cd_err_set(r->err, CD_ERR_FORMAT,
                          "tensor '%.60s' has shape %s (%zu bytes) but its data holds %zu bytes", tn,
                          shp, n * esize, bytes);
    }
    /* protobuf-c copies bytes fields into arena blocks, which are 16-byte aligned. */
    if (n == 0)
        data = NULL;
    if (v->is_int)
        v->i = data;
    else
        v->f = data;
    return 0;
}

/* v as a decoded constant (initializers are decoded on first use). */
static val *as_const(reader *r, val *v)
{
    if (v->kind != V_CONST) {
        node_fail(r, CD_ERR_UNSUPPORTED, "wants a constant (an initializer) where the graph computes a value");
        return NULL;
    }
    if (v->tp) {
        const Onnx__TensorProto *t = v->tp;
        v->tp = NULL;
        if (decode_tensor(r, t, v) != 0)
            return NULL;
    }
    return v;
}

static val *const_input(reader *r, size_t k, int want_int)
{
    val *v = input(r, k);
    if (!v || !(v = as_const(r, v)))
        return NULL;
    if (v->is_int != want_int) {
        node_fail(r, CD_ERR_UNSUPPORTED, want_int ? "wants an int64 constant" : "wants a float32 constant");
        return NULL;
    }
    return v;
}

/* ---- layers ------------------------------------------------------------- */

/* A unique layer name derived from the node. */
static void layer_name(reader *r, const char *suffix, char *out)
{
    char base[LAYER_NAME_MAX - 16];
    const char *src = r->node->name && r->node->name[0] ? r->node->name : r->node->op_type;
    size_t k = 0;
    for (; src[k] && k < sizeof base - 1; k++) {
        unsigned char c = (unsigned char)src[k];
        base[k] = isalnum(c) || c == '_' || c == '.' || c == '-' || c == '/' ? (char)c : '_';
    }
    base[k] = '\0';
    snprintf(out, LAYER_NAME_MAX, "%s%s", base, suffix);
    for (int i = 1; model_find(r->m, out) >= 0; i++)
        snprintf(out, LAYER_NAME_MAX, "%s%s_%d", base, suffix, i);
}

/* model_add takes the parameters over, also when it fails. */
static int add_layer(reader *r, layer *l) { return model_add(r->m, l, r->err); }

static int want_map(reader *r, const val *x)
{
    if (x->kind != V_MAP)
        return node_fail(r, CD_ERR_UNSUPPORTED, "wants a feature map (N, C, H, W) input");
    return 0;
}

/* Engine padding for ONNX pads/auto_pad on a window over an h x w map: VALID
 * (no pads) or TensorFlow's SAME (the engine's only padded mode). */
static int window_padding(reader *r, const val *x, int kh, int kw, int sh, int sw, layer_pad *out)
{
    char ap[32] = "NOTSET";
    attr_s(r, "auto_pad", ap, sizeof ap);
    if (strcmp(ap, "VALID") == 0) {
        *out = PAD_VALID;
        return 0;
    }
    if (strcmp(ap, "SAME_UPPER") == 0) {
        *out = PAD_SAME;
        return 0;
    }
    if (strcmp(ap, "NOTSET") != 0 && strcmp(ap, "SAME_LOWER") != 0)
        NODE_FAIL(r, CD_ERR_FORMAT, "auto_pad '%s' is not an ONNX mode", ap);
    int64_t pads[5] = {0};
    size_t np = attr_ints(r, "pads", pads, 5);
    if (np != 0 && np != 4)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "pads has %zu values; 2-D windows have 4", np);
    int k[2] = {kh, kw}, s[2] = {sh, sw}, in[2] = {x->h, x->w};
    int64_t same[4];
    for (int d = 0; d < 2; d++) {
        int o = (in[d] + s[d] - 1) / s[d];
        int total = (o - 1) * s[d] + k[d] - in[d];
        if (total < 0)
            total = 0;
        int lo = strcmp(ap, "SAME_LOWER") == 0 ? total - total / 2 : total / 2;
        same[d] = lo;
        same[d + 2] = total - lo;
    }
    if (strcmp(ap, "SAME_LOWER") == 0) {
        if (same[0] != same[2] || same[1] != same[3])
            NODE_FAIL(r, CD_ERR_UNSUPPORTED,
                      "auto_pad SAME_LOWER pads the start here; the engine pads the end");
        *out = PAD_SAME;
        return 0;
    }
    if (!pads[0] && !pads[1] && !pads[2] && !pads[3]) {
        *out = PAD_VALID;
        return 0;
    }
    if (pads[0] == same[0] && pads[1] == same[1] && pads[2] == same[2] && pads[3] == same[3]) {
        *out = PAD_SAME;
        return 0;
    }
    NODE_FAIL(r, CD_ERR_UNSUPPORTED,
              "pads (%lld, %lld, %lld, %lld) on a %dx%d input are neither 0 nor TensorFlow's SAME "
              "(%lld, %lld, %lld, %lld), the engine's two padding modes",
              (long long)pads[0], (long long)pads[1], (long long)pads[2], (long long)pads[3], x->h,
              x->w, (long long)same[0], (long long)same[1], (long long)same[2], (long long)same[3]);
}

static int window_out(int in, int k, int s, layer_pad p)
{
    return p == PAD_SAME ? (in + s - 1) / s : (in - k) / s + 1;
}

static int no_dilation(reader *r)
{
    int64_t d[3];
    size_t nd = attr_ints(r, "dilations", d, 2);
    for (size_t i = 0; i < nd && i < 2; i++)
        if (d[i] != 1)
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "dilations other than 1 are not supported");
    return 0;
}

static int op_conv(reader *r)
{
    val *x = input(r, 0), *wv, *b = NULL;
    if (!x || want_map(r, x) != 0 || !(wv = const_input(r, 1, 0)))
        return -1;
    if (r->node->n_input > 2 && r->node->input[2][0] && !(b = const_input(r, 2, 0)))
        return -1;
    if (attr_i(r, "group", 1) != 1)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "grouped convolution (group %lld) is not supported",
                  (long long)attr_i(r, "group", 1));
    if (no_dilation(r) != 0)
        return -1;
    if (wv->rank != 4 || wv->dims[1] != x->c || wv->dims[0] < 1 || wv->dims[2] < 1 || wv->dims[3] < 1)
        NODE_FAIL(r, CD_ERR_SHAPE, "weight is not (O, %d, kh, kw)", x->c);
    int co = (int)wv->dims[0], ci = x->c, kh = (int)wv->dims[2], kw = (int)wv->dims[3];
    if (b && (b->rank != 1 || b->dims[0] != co))
        NODE_FAIL(r, CD_ERR_SHAPE, "bias does not have %d values", co);
    int64_t st[3] = {1, 1};
    if (attr_ints(r, "strides", st, 2) > 2 || st[0] < 1 || st[1] < 1 || st[0] > 64 || st[1] > 64)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "strides must be two values from 1 to 64");
    layer l;
    char name[LAYER_NAME_MAX];
    layer_name(r, "", name);
    l = layer_template(LAYER_CONV2D, name, x->layer);
    l.filters = co;
    l.kernel[0] = kh;
    l.kernel[1] = kw;
    l.strides[0] = (int)st[0];
    l.strides[1] = (int)st[1];
    if (window_padding(r, x, kh, kw, l.strides[0], l.strides[1], &l.padding) != 0)
        return -1;
    int oh = window_out(x->h, kh, l.strides[0], l.padding), ow = window_out(x->w, kw, l.strides[1], l.padding);
    if (oh < 1 || ow < 1)
        NODE_FAIL(r, CD_ERR_SHAPE, "input %dx%d is smaller than the kernel %dx%d", x->h, x->w, kh, kw);
    l.use_bias = b != NULL;
    int kd[4] = {kh, kw, ci, co};
    l.params[0] = tensor_new(4, kd, r->err);
    if (!l.params[0])
        return -1;
    l.n_params = 1;
    /* OIHW -> HWIO, once. */
    for (int o = 0; o < co; o++)
        for (int i = 0; i < ci; i++)
            for (int a = 0; a < kh; a++)
                for (int c = 0; c < kw; c++)
                    l.params[0]->data[(((size_t)a * kw + c) * ci + i) * co + o] =
                        wv->f[(((size_t)o * ci + i) * kh + a) * kw + c];
    if (b) {
        int bd[1] = {co};
        if (!(l.params[1] = tensor_new(1, bd, r->err))) {
            tensor_free(l.params[0]);
            return -1;
        }
        memcpy(l.params[1]->data, b->f, (size_t)co * sizeof(float));
        l.n_params = 2;
    }
    int idx = add_layer(r, &l);
    val *y = idx < 0 ? NULL : output(r, 0);
    if (!y)
        return -1;
    y->defined = 1;
    y->kind = V_MAP;
    y->layer = idx;
    y->c = co;
    y->h = oh;
    y->w = ow;
    return 0;
}

static int op_pool(reader *r, layer_kind kind)
{
    val *x = input(r, 0);
    if (!x || want_map(r, x) != 0 || no_dilation(r) != 0)
        return -1;
    int64_t ks[3] = {0}, st[3] = {1, 1};
    if (attr_ints(r, "kernel_shape", ks, 2) != 2 || ks[0] < 1 || ks[1] < 1 || ks[0] > x->h ||
        ks[1] > x->w)
        NODE_FAIL(r, CD_ERR_SHAPE, "kernel_shape must be two values within the %dx%d input", x->h, x->w);
    if (attr_ints(r, "strides", st, 2) > 2 || st[0] < 1 || st[1] < 1 || st[0] > 64 || st[1] > 64)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "strides must be two values from 1 to 64");
    if (attr_i(r, "storage_order", 0) != 0)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "storage_order 1 is not supported");
    char name[LAYER_NAME_MAX];
    layer_name(r, "", name);
    layer l = layer_template(kind, name, x->layer);
    l.pool[0] = (int)ks[0];
    l.pool[1] = (int)ks[1];
    l.strides[0] = (int)st[0];
    l.strides[1] = (int)st[1];
    if (window_padding(r, x, l.pool[0], l.pool[1], l.strides[0], l.strides[1], &l.padding) != 0)
        return -1;
    if (kind == LAYER_AVGPOOL2D && l.padding == PAD_SAME && attr_i(r, "count_include_pad", 0))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "count_include_pad 1 with padding is not supported");
    int oh = window_out(x->h, l.pool[0], l.strides[0], l.padding);
    int ow = window_out(x->w, l.pool[1], l.strides[1], l.padding);
    if (attr_i(r, "ceil_mode", 0) && l.padding == PAD_VALID &&
        ((x->h - l.pool[0]) % l.strides[0] || (x->w - l.pool[1]) % l.strides[1]))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "ceil_mode 1 changes the output size here; not supported");
    int idx = add_layer(r, &l);
    val *y = idx < 0 ? NULL : output(r, 0);
    if (!y)
        return -1;
    y->defined = 1;
    y->kind = V_MAP;
    y->layer = idx;
    y->c = x->c;
    y->h = oh;
    y->w = ow;
    return 0;
}

static int op_global_pool(reader *r, layer_kind kind)
{
    val *x = input(r, 0);
    if (!x || want_map(r, x) != 0)
        return -1;
    char name[LAYER_NAME_MAX];
    layer_name(r, "", name);
    layer l = layer_template(kind, name, x->layer);
    int idx = add_layer(r, &l);
    val *y = idx < 0 ? NULL : output(r, 0);
    if (!y)
        return -1;
    y->defined = 1;
    y->kind = V_VEC;
    y->layer = idx;
    y->c = x->c;
    y->rank4 = 1;
    return 0;
}

/* 1 when act with parameters ap can be a Conv/Dense's fused activation and
 * still be written to Keras (a string with its default parameters). */
static int fusable_act(layer_act act, const layer_act_params *ap)
{
    layer_act_params d = layer_act_defaults(act);
    return act != ACT_RELU_X && act != ACT_HARD_SIGMOID6 && act != ACT_GELU_TANH &&
           memcmp(&d, ap, sizeof d) == 0;
}

/* An activation (onnx_acts.c's table, Clip): fused into the producing
 * Conv/Dense when it is that layer's only reader (the engine's fused
 * post-ops), else an Activation layer. */
static int op_act(reader *r, layer_act act, const layer_act_params *ap)
{
    val *x = input(r, 0);
    if (!x)
        return -1;
    if (x->kind != V_MAP && x->kind != V_VEC)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "wants a feature map or a vector input");
    if (act == ACT_SOFTMAX) {
        int64_t axis = attr_i(r, "axis", r->opset >= 13 ? -1 : 1);
        int ok = x->kind == V_MAP ? (axis == 1 || axis == -3)
                                  : (x->rank4 ? (axis == 1 || axis == -3) : (axis == 1 || axis == -1));
        if (!ok || (x->kind == V_VEC && x->chw))
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "softmax over axis %lld; the engine's is over the channels",
                      (long long)axis);
        if (x->kind == V_MAP && r->opset < 13)
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "softmax of a feature map before opset 13 spans C, H and W");
    }
    val *y = output(r, 0);
    if (!y)
        return -1;
    layer *p = &r->m->layers[x->layer];
    int fuse = x->uses == 1 && (p->kind == LAYER_CONV2D || p->kind == LAYER_DENSE) &&
               p->act == ACT_LINEAR && !(x->kind == V_VEC && x->chw && act == ACT_SOFTMAX) &&
               fusable_act(act, ap);
    val keep = *y;
    *y = *x;
    y->name = keep.name;
    y->uses = keep.uses;
    y->tp = NULL;
    if (fuse) {
        p->act = act;
        p->act_p = *ap;
        return 0;
    }
    char name[LAYER_NAME_MAX];
    layer_name(r, "", name);
    layer l = layer_template(LAYER_ACTIVATION, name, x->layer);
    l.act = act;
    l.act_p = *ap;
    int idx = add_layer(r, &l);
    if (idx < 0)
        return -1;
    y->layer = idx;
    return 0;
}

/* A float attribute into *v; 1 when present. */
static int attr_has_f(reader *r, const char *name, float *v)
{
    const Onnx__AttributeProto *a = attr(r, name);
    if (!a || !a->has_f)
        return 0;
    *v = a->f;
    return 1;
}

/* An activation op of onnx_acts.c's table: 1 mapped, 0 not one, -1 failed. */
static int op_act_named(reader *r, const char *op)
{
    onnx_act_attrs at = {0};
    char buf[32], why[CD_ERR_MSG_MAX / 4];
    at.has_alpha = attr_has_f(r, "alpha", &at.alpha);
    at.has_beta = attr_has_f(r, "beta", &at.beta);
    at.has_gamma = attr_has_f(r, "gamma", &at.gamma);
    at.approximate = attr_s(r, "approximate", buf, sizeof buf);
    layer_act act;
    layer_act_params ap;
    int rc = onnx_act_import(op, &at, &act, &ap, why, sizeof why);
    if (rc < 0)
        return node_fail(r, CD_ERR_UNSUPPORTED, why);
    if (rc == 0)
        return 0;
    return op_act(r, act, &ap) != 0 ? -1 : 1;
}

/* Mul(x, Sigmoid(x)) in either order, as PyTorch writes SiLU: the Sigmoid's
 * Activation layer becomes swish.  Any other Mul is not supported (yet). */
static int op_mul_swish(reader *r)
{
    val *a = input(r, 0), *b = a ? input(r, 1) : NULL;
    if (!b)
        return -1;
    for (int k = 0; k < 2; k++) {
        val *x = k ? b : a, *g = k ? a : b;
        if ((x->kind != V_MAP && x->kind != V_VEC) || g->kind != x->kind || g->uses != 1 ||
            g->layer < 0 || x->layer < 0)
            continue;
        layer *gl = &r->m->layers[g->layer];
        if (gl->kind != LAYER_ACTIVATION || gl->act != ACT_SIGMOID || gl->n_inputs != 1 ||
            gl->inputs[0] != x->layer)
            continue;
        layer_set_act(gl, ACT_SWISH);
        val *y = output(r, 0);
        if (!y)
            return -1;
        val keep = *y;
        *y = *g;
        y->name = keep.name;
        y->uses = keep.uses;
        return 0;
    }
    NODE_FAIL(r, CD_ERR_UNSUPPORTED, "op Mul (opset %d) is supported only as x * Sigmoid(x)",
              r->opset);
}

/* PRelu(x, slope): a PReLU layer; slope broadcasts from the right over NCHW,
 * so each of its (C, H, W) dims is 1 (shared: Keras' shared_axes) or the
 * map's. */
static int op_prelu(reader *r)
{
    val *x = input(r, 0), *sv = x ? const_input(r, 1, 0) : NULL;
    if (!sv)
        return -1;
    if ((x->kind != V_MAP && x->kind != V_VEC) || (x->kind == V_VEC && x->chw))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "wants a feature map or a vector input");
    int map = x->kind == V_MAP, h = map ? x->h : 1, w = map ? x->w : 1;
    int64_t sd[3] = {1, 1, 1}; /* slope as (C, H, W), left-padded with 1 */
    if (sv->rank > 3 + (sv->rank == 4 && sv->dims[0] == 1))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "slope of rank %d", sv->rank);
    for (int k = 0; k < sv->rank && k < 3; k++)
        sd[2 - k] = sv->dims[sv->rank - 1 - k];
    if (!map && sv->rank >= 1) { /* a vector: the slope's last dim is the channels */
        sd[0] = sv->dims[sv->rank - 1];
        sd[1] = sd[2] = 1;
    }
    if ((sd[0] != 1 && sd[0] != x->c) || (sd[1] != 1 && sd[1] != h) || (sd[2] != 1 && sd[2] != w))
        NODE_FAIL(r, CD_ERR_SHAPE, "slope does not broadcast over (%d, %d, %d)", x->c, h, w);
    char name[LAYER_NAME_MAX];
    layer_name(r, "", name);
    layer l = layer_template(LAYER_PRELU, name, x->layer);
    int ah = (int)sd[1], aw = (int)sd[2], ac = (int)sd[0];
    l.shared_axes = map ? (ah == 1 ? 1 : 0) | (aw == 1 ? 2 : 0) | (ac == 1 ? 4 : 0)
                        : (ac == 1 ? 1 : 0);
    int d3[3] = {ah, aw, ac};
    l.params[0] = map ? tensor_new(3, d3, r->err) : tensor_new(1, &ac, r->err);
    if (!l.params[0])
        return -1;
    l.n_params = 1;
    for (int c = 0; c < ac; c++)
        for (int i = 0; i < ah; i++)
            for (int j = 0; j < aw; j++)
                l.params[0]->data[((size_t)i * aw + j) * ac + c] =
                    sv->f[((size_t)c * ah + i) * aw + j];
    int idx = add_layer(r, &l);
    val *y = idx < 0 ? NULL : output(r, 0);
    if (!y)
        return -1;
    val keep = *y;
    *y = *x;
    y->name = keep.name;
    y->uses = keep.uses;
    y->tp = NULL;
    y->layer = idx;
    return 0;
}

/* Clip(x, min, max): bounds from constant inputs (opset 11+) or attributes. */
static int op_clip(reader *r)
{
    int has[2] = {0, 0};
    float b[2] = {0.0f, 0.0f};
    static const char *const names[2] = {"min", "max"};
    for (int k = 0; k < 2; k++) {
        if (r->opset < 11) {
            has[k] = attr_has_f(r, names[k], &b[k]);
            continue;
        }
        if (r->node->n_input <= (size_t)k + 1 || !r->node->input[k + 1][0])
            continue;
        val *c = const_input(r, (size_t)k + 1, 0);
        if (!c)
            return -1;
        if (c->n != 1)
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "Clip's %s is not a scalar", names[k]);
        has[k] = 1;
        b[k] = c->f[0];
    }
    layer_act act;
    layer_act_params ap;
    char why[CD_ERR_MSG_MAX / 4];
    if (onnx_act_clip(has[0], b[0], has[1], b[1], &act, &ap, why, sizeof why) != 0)
        return node_fail(r, CD_ERR_UNSUPPORTED, why);
    return op_act(r, act, &ap);
}

/* (N, C, H, W) -> (N, C*H*W): the engine's Flatten is NHWC order, so the
 * result remembers the NCHW order for the Gemm/MatMul that reads it. */
static int flatten_to(reader *r, val *x, val *y)
{
    const char *nm = y->name;
    int uses = y->uses;
    if (x->kind == V_VEC) {
        *y = *x;
        y->rank4 = 0;
    } else if (x->kind == V_MAP || x->kind == V_MAP_NHWC) {
        char name[LAYER_NAME_MAX];
        layer_name(r, "", name);
        layer l = layer_template(LAYER_FLATTEN, name, x->layer);
        int idx = add_layer(r, &l);
        if (idx < 0)
            return -1;
        memset(y, 0, sizeof *y);
        y->kind = V_VEC;
        y->layer = idx;
        y->c = x->c * x->h * x->w;
        if (x->kind == V_MAP && (x->h > 1 || x->w > 1)) {
            y->chw = 1;
            y->ch = x->c;
            y->hh = x->h;
            y->ww = x->w;
        }
    } else {
        return node_fail(r, CD_ERR_UNSUPPORTED, "flattens a constant");
    }
    y->name = nm;
    y->uses = uses;
    y->defined = 1;
    return 0;
}

static int op_flatten(reader *r)
{
    val *x = input(r, 0), *y;
    if (!x || !(y = output(r, 0)))
        return -1;
    if (attr_i(r, "axis", 1) != 1)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "axis %lld; only 1 (keep the batch) is supported",
                  (long long)attr_i(r, "axis", 1));
    return flatten_to(r, x, y);
}

static int op_transpose(reader *r)
{
    val *x = input(r, 0), *y;
    int64_t perm[5] = {0};
    if (!x)
        return -1;
    size_t np = attr_ints(r, "perm", perm, 4);
    if (x->kind != V_MAP || np != 4 || perm[0] != 0 || perm[1] != 2 || perm[2] != 3 || perm[3] != 1)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED,
                  "only NCHW -> NHWC (perm 0,2,3,1) of a feature map before a Flatten is supported");
    if (!(y = output(r, 0)))
        return -1;
    const char *nm = y->name;
    int uses = y->uses;
    *y = *x;
    y->name = nm;
    y->uses = uses;
    y->kind = V_MAP_NHWC;
    return 0;
}

/* Element count of a value without the batch, for Reshape's checks. */
static long long per_sample(const val *x)
{
    return x->kind == V_VEC ? x->c : (long long)x->c * x->h * x->w;
}

static int op_reshape(reader *r)
{
    val *x = input(r, 0), *s, *y;
    if (!x || !(s = const_input(r, 1, 1)) || !(y = output(r, 0)))
        return -1;
    if (x->kind == V_CONST)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "reshapes a constant");
    long long k = per_sample(x);
    /* Only the flatten PyTorch writes as x.view(x.size(0), -1): (N, -1) or (N, k). */
    if (s->rank == 1 && s->n == 2) {
        int64_t a = s->i[0], b = s->i[1];
        int batch_ok = a == BATCH_DIM || a == 0 || a == -1;
        if (batch_ok && (b == -1 || b == k) && !(a == -1 && b == -1))
            return flatten_to(r, x, y);
    }
    NODE_FAIL(r, CD_ERR_UNSUPPORTED, "only a reshape to (N, %lld) (a flatten) is supported", k);
}

static int op_squeeze(reader *r)
{
    val *x = input(r, 0), *y;
    if (!x || !(y = output(r, 0)))
        return -1;
    if (x->kind != V_VEC || !x->rank4)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "only squeezing the 1x1 of a global pooling is supported");
    /* Axes (attribute before opset 13, input since) may only name H and W. */
    int64_t ax[4] = {2, 3};
    size_t na = 2;
    if (r->opset >= 13 && r->node->n_input > 1 && r->node->input[1][0]) {
        val *a = const_input(r, 1, 1);
        if (!a)
            return -1;
        na = a->n;
        for (size_t i = 0; i < na && i < 4; i++)
            ax[i] = a->i[i];
    } else if (r->opset < 13 && attr(r, "axes")) {
        na = attr_ints(r, "axes", ax, 3);
    }
    for (size_t i = 0; i < na; i++)
        if (na > 2 || !(ax[i] == 2 || ax[i] == 3 || ax[i] == -1 || ax[i] == -2))
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "squeezes axes other than H and W");
    return flatten_to(r, x, y);
}

/* Dense from a constant [K, M] matrix (rows in ONNX's order), bias or NULL. */
static int add_dense(reader *r, val *x, const float *wm, int trans, int K, int M, float alpha,
                     const float *bias, size_t n_bias, float beta)
{
    if (x->kind != V_VEC || x->rank4)
        return node_fail(r, CD_ERR_UNSUPPORTED, "wants an (N, K) input (flatten the feature map first)");
    if (x->c != K)
        NODE_FAIL(r, CD_ERR_SHAPE, "weight has %d rows; the input has %d values", K, x->c);
    if (bias && n_bias != (size_t)M && n_bias != 1)
        NODE_FAIL(r, CD_ERR_SHAPE, "bias has %zu values, not %d", n_bias, M);
    char name[LAYER_NAME_MAX];
    layer_name(r, "", name);
    layer l = layer_template(LAYER_DENSE, name, x->layer);
    l.units = M;
    l.use_bias = bias != NULL;
    int kd[2] = {K, M};
    if (!(l.params[0] = tensor_new(2, kd, r->err)))
        return -1;
    l.n_params = 1;
    for (int e = 0; e < K; e++) {
        /* Engine row e (NHWC flatten) is ONNX row `src` (NCHW flatten). */
        int src = e;
        if (x->chw) {
            int ch = e % x->ch, pix = e / x->ch;
            src = ch * x->hh * x->ww + pix;
        }
        for (int m = 0; m < M; m++)
            l.params[0]->data[(size_t)e * M + m] =
                alpha * (trans ? wm[(size_t)m * K + src] : wm[(size_t)src * M + m]);
    }
    if (bias) {
        int bd[1] = {M};
        if (!(l.params[1] = tensor_new(1, bd, r->err))) {
            tensor_free(l.params[0]);
            return -1;
        }
        for (int m = 0; m < M; m++)
            l.params[1]->data[m] = beta * bias[n_bias == 1 ? 0 : m];
        l.n_params = 2;
    }
    int idx = add_layer(r, &l);
    val *y = idx < 0 ? NULL : output(r, 0);
    if (!y)
        return -1;
    y->defined = 1;
    y->kind = V_VEC;
    y->layer = idx;
    y->c = M;
    return 0;
}

static int op_gemm(reader *r)
{
    val *x = input(r, 0), *b, *c = NULL;
    if (!x || !(b = const_input(r, 1, 0)))
        return -1;
    if (r->node->n_input > 2 && r->node->input[2][0] && !(c = const_input(r, 2, 0)))
        return -1;
    if (attr_i(r, "transA", 0))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "transA 1 is not supported");
    int trans = attr_i(r, "transB", 0) != 0;
    if (b->rank != 2 || b->dims[0] < 1 || b->dims[1] < 1)
        NODE_FAIL(r, CD_ERR_SHAPE, "B is not a matrix");
    if (c && !(c->rank == 1 || (c->rank == 2 && c->dims[0] == 1) || c->rank == 0))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "C must broadcast along the batch (shape (M) or (1, M))");
    int K = (int)b->dims[trans ? 1 : 0], M = (int)b->dims[trans ? 0 : 1];
    return add_dense(r, x, b->f, trans, K, M, attr_f(r, "alpha", 1.0f), c ? c->f : NULL,
                     c ? c->n : 0, attr_f(r, "beta", 1.0f));
}

static int op_matmul(reader *r)
{
    val *x = input(r, 0), *b;
    if (!x || !(b = const_input(r, 1, 0)))
        return -1;
    if (b->rank != 2 || b->dims[0] < 1 || b->dims[1] < 1)
        NODE_FAIL(r, CD_ERR_SHAPE, "B is not a matrix");
    return add_dense(r, x, b->f, 0, (int)b->dims[0], (int)b->dims[1], 1.0f, NULL, 0, 1.0f);
}

/* Add: only a bias after a MatMul (what older exporters write for Linear). */
static int op_add(reader *r)
{
    val *x = input(r, 0), *c = input(r, 1);
    if (!x || !c)
        return -1;
    if (x->kind == V_CONST) {
        val *t = x;
        x = c;
        c = t;
    }
    layer *p = x->kind == V_VEC ? &r->m->layers[x->layer] : NULL;
    if (!p || p->kind != LAYER_DENSE || p->use_bias || p->act != ACT_LINEAR || x->uses != 1 ||
        c->kind != V_CONST)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "op Add (opset %d) is supported only as the bias of a MatMul",
                  r->opset);
    if (!(c = as_const(r, c)))
        return -1;
    if (c->is_int || !(c->n == (size_t)p->units || c->n == 1) || c->rank > 2 ||
        (c->rank == 2 && c->dims[0] != 1))
        NODE_FAIL(r, CD_ERR_SHAPE, "bias of %zu values for %d units", c->n, p->units);
    int bd[1] = {p->units};
    tensor *bt = tensor_new(1, bd, r->err);
    if (!bt)
        return -1;
    for (int m = 0; m < p->units; m++)
        bt->data[m] = c->f[c->n == 1 ? 0 : m];
    p->params[1] = bt;
    p->n_params = 2;
    p->use_bias = 1;
    val *y = output(r, 0);
    if (!y)
        return -1;
    const char *nm = y->name;
    int uses = y->uses;
    *y = *x;
    y->name = nm;
    y->uses = uses;
    return 0;
}

/* Dropout and Identity (below); a one-input Concat is one. */
static int op_identity(reader *r);

static int op_concat(reader *r)
{
    const Onnx__NodeProto *nd = r->node;
    if (nd->n_input < 1 || nd->n_input > LAYER_MAX_INPUTS)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "concatenates %zu inputs (1 to %d)", nd->n_input,
                  LAYER_MAX_INPUTS);
    val *in[LAYER_MAX_INPUTS];
    for (size_t k = 0; k < nd->n_input; k++)
        if (!(in[k] = input(r, k)))
            return -1;
    int64_t axis = attr_i(r, "axis", 1);
    val *y;
    if (in[0]->kind == V_CONST) {
        /* Shape arithmetic: 1-D int64 constants joined. */
        size_t n = 0;
        for (size_t k = 0; k < nd->n_input; k++) {
            if (!as_const(r, in[k]))
                return -1;
            if (!in[k]->is_int || in[k]->rank != 1 || axis != 0)
                NODE_FAIL(r, CD_ERR_UNSUPPORTED, "only 1-D int64 constants are concatenated");
            n += in[k]->n;
        }
        if (n > MAX_RANK)
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "shape of %zu dimensions", n);
        int64_t *d = onnx_arena_alloc(&r->scratch, (n ? n : 1) * sizeof *d);
        if (!d || !(y = output(r, 0)))
            return d ? -1 : oom(r);
        size_t o = 0;
        for (size_t k = 0; k < nd->n_input; k++)
            for (size_t j = 0; j < in[k]->n; j++)
                d[o++] = in[k]->i[j];
        y->defined = 1;
        y->kind = V_CONST;
        y->is_int = 1;
        y->rank = 1;
        y->dims[0] = (int64_t)n;
        y->n = n;
        y->i = d;
        return 0;
    }
    if (nd->n_input == 1)   /* a concatenation of one value is that value */
        return op_identity(r);
    int maps = in[0]->kind == V_MAP;
    int ok = maps ? (axis == 1 || axis == -3) : (axis == 1 || (axis == -1 && !in[0]->rank4));
    if (!ok)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "concatenation along axis %lld; the engine's is the channels",
                  (long long)axis);
    char name[LAYER_NAME_MAX];
    layer_name(r, "", name);
    layer l = layer_template(LAYER_CONCAT, name, in[0]->layer);
    int c = 0;
    for (size_t k = 0; k < nd->n_input; k++) {
        val *v = in[k];
        if (v->kind != in[0]->kind || v->rank4 != in[0]->rank4 || v->chw ||
            (maps && (v->h != in[0]->h || v->w != in[0]->w)) || (!maps && v->kind != V_VEC))
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "concatenates values of different kinds or sizes");
        l.inputs[k] = v->layer;
        c += v->c;
    }
    l.n_inputs = (int)nd->n_input;
    int idx = add_layer(r, &l);
    if (idx < 0 || !(y = output(r, 0)))
        return -1;
    const char *nm = y->name;
    int uses = y->uses;
    *y = *in[0];
    y->name = nm;
    y->uses = uses;
    y->layer = idx;
    y->c = c;
    return 0;
}

/* Dropout (inference: identity; its mask output must be unused) and Identity. */
static int op_identity(reader *r)
{
    val *x = input(r, 0), *y;
    if (!x || !(y = output(r, 0)))
        return -1;
    for (size_t k = 1; k < r->node->n_output; k++) {
        val *mask = r->node->output[k][0] ? lookup(r, r->node->output[k], 0) : NULL;
        if (mask && mask->uses)
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "its mask output is read; inference has no mask");
    }
    const char *nm = y->name;
    int uses = y->uses;
    *y = *x;
    y->name = nm;
    y->uses = uses;
    y->defined = 1;
    return 0;
}

/* BatchNormalization (inference) folded into the Conv or Gemm/MatMul before
 * it, once: y = (x - mean) * scale / sqrt(var + eps) + b.  Only when that
 * layer is its only reader and has no activation yet (Conv -> BN -> ReLU). */
static int op_batchnorm(reader *r)
{
    val *x = input(r, 0), *sc, *bb, *mean, *var;
    if (!x || !(sc = const_input(r, 1, 0)) || !(bb = const_input(r, 2, 0)) ||
        !(mean = const_input(r, 3, 0)) || !(var = const_input(r, 4, 0)))
        return -1;
    if (attr_i(r, "training_mode", 0))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "training_mode 1 is not supported");
    layer *p = x->kind == V_MAP || x->kind == V_VEC ? &r->m->layers[x->layer] : NULL;
    if (!p || (p->kind != LAYER_CONV2D && p->kind != LAYER_DENSE) || p->act != ACT_LINEAR ||
        x->uses != 1 || (x->kind == V_VEC && x->rank4))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED,
                  "op BatchNormalization (opset %d) is supported only right after a Conv or Gemm "
                  "it can be folded into",
                  r->opset);
    int C = p->kind == LAYER_CONV2D ? p->filters : p->units;
    if (sc->n != (size_t)C || bb->n != (size_t)C || mean->n != (size_t)C || var->n != (size_t)C)
        NODE_FAIL(r, CD_ERR_SHAPE, "statistics do not have %d values", C);
    double eps = attr_f(r, "epsilon", 1e-5f);
    if (!p->use_bias) {
        int bd[1] = {C};
        if (!(p->params[1] = tensor_new(1, bd, r->err)))
            return -1;
        p->n_params = 2;
        p->use_bias = 1;
    }
    tensor *k = p->params[0], *b = p->params[1];
    for (int o = 0; o < C; o++) {
        double v = var->f[o] + eps;
        if (!(v > 0))
            NODE_FAIL(r, CD_ERR_FORMAT, "variance + epsilon of channel %d is not positive", o);
        double s = sc->f[o] / sqrt(v);
        b->data[o] = (float)((b->data[o] - mean->f[o]) * s + bb->f[o]);
    }
    /* HWIO conv kernels and [in, out] dense kernels both end in the output channel. */
    for (size_t i = 0; i < k->size; i++) {
        int o = (int)(i % (size_t)C);
        k->data[i] = (float)(k->data[i] * (sc->f[o] / sqrt((double)var->f[o] + eps)));
    }
    val *y = output(r, 0);
    if (!y)
        return -1;
    const char *nm = y->name;
    int uses = y->uses;
    *y = *x;
    y->name = nm;
    y->uses = uses;
    return 0;
}

/* Slice: only column 1 of a 2-unit vector (P(dog) of a cat/dog softmax,
 * how catdog exports such heads), which may only be the graph's output. */
static int op_slice(reader *r)
{
    val *x = input(r, 0), *st, *en, *ax;
    if (!x || !(st = const_input(r, 1, 1)) || !(en = const_input(r, 2, 1)))
        return -1;
    if (r->node->n_input < 4 || !(ax = const_input(r, 3, 1)))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "op Slice (opset %d) without axes is not supported", r->opset);
    if (r->node->n_input > 4 && r->node->input[4][0]) {
        val *steps = const_input(r, 4, 1);
        if (!steps || steps->n != 1 || steps->i[0] != 1)
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "op Slice (opset %d) with steps is not supported", r->opset);
    }
    if (x->kind != V_VEC || x->rank4 || x->chw || x->c != 2 || st->n != 1 || en->n != 1 ||
        ax->n != 1 || st->i[0] != 1 || en->i[0] < 2 || !(ax->i[0] == 1 || ax->i[0] == -1))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED,
                  "op Slice (opset %d) is supported only as column 1 (dog) of a 2-unit output",
                  r->opset);
    val *y = output(r, 0);
    if (!y)
        return -1;
    const char *nm = y->name;
    int uses = y->uses;
    *y = *x;
    y->name = nm;
    y->uses = uses;
    y->kind = V_DOG;
    return 0;
}

/* Pad: PyTorch writes a zero Pad before some AveragePools; only that folds. */
static int op_pad(reader *r)
{
    val *p = const_input(r, 1, 1);
    if (!p)
        return -1;
    for (size_t k = 0; k < p->n; k++)
        if (p->i[k] != 0)
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "op Pad (opset %d) with non-zero pads is not supported",
                      r->opset);
    return op_identity(r);
}

static int op_constant(reader *r)
{
    val *y = output(r, 0);
    if (!y)
        return -1;
    const Onnx__AttributeProto *a = attr(r, "value");
    if (a && a->t) {
        if (decode_tensor(r, a->t, y) != 0)
            return -1;
    } else if ((a = attr(r, "value_ints")) || (a = attr(r, "value_int"))) {
        y->kind = V_CONST;
        y->is_int = 1;
        if (a->n_ints > MAX_RANK)
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "value_ints of %zu values", a->n_ints);
        y->rank = strcmp(a->name, "value_int") != 0;
        y->n = y->rank ? a->n_ints : 1;
        y->dims[0] = (int64_t)y->n;
        y->i = y->rank ? a->ints : &a->i;
    } else if ((a = attr(r, "value_float")) && a->has_f) {
        y->kind = V_CONST;
        y->rank = 0;
        y->n = 1;
        y->f = &a->f;
    } else {
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "only value, value_int(s) and value_float are supported");
    }
    y->defined = 1;
    return 0;
}

/* Shape of a computed value; the batch is BATCH_DIM. */
static int op_shape(reader *r)
{
    val *x = input(r, 0), *y;
    if (!x || !(y = output(r, 0)))
        return -1;
    if (x->kind == V_CONST || x->kind == V_DOG || attr(r, "start") || attr(r, "end"))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "only the whole shape of a computed value is folded");
    int64_t *d = onnx_arena_alloc(&r->scratch, 4 * sizeof *d);
    if (!d)
        return oom(r);
    size_t n = 0;
    d[n++] = BATCH_DIM;
    if (x->kind == V_VEC) {
        d[n++] = x->c;
        if (x->rank4)
            d[n++] = 1, d[n++] = 1;
    } else if (x->kind == V_MAP) {
        d[n++] = x->c, d[n++] = x->h, d[n++] = x->w;
    } else {
        d[n++] = x->h, d[n++] = x->w, d[n++] = x->c;
    }
    y->defined = 1;
    y->kind = V_CONST;
    y->is_int = 1;
    y->rank = 1;
    y->dims[0] = (int64_t)n;
    y->n = n;
    y->i = d;
    return 0;
}

static int op_gather(reader *r)
{
    val *d = const_input(r, 0, 1), *k, *y;
    if (!d || !(k = const_input(r, 1, 1)) || !(y = output(r, 0)))
        return -1;
    if (d->rank != 1 || attr_i(r, "axis", 0) != 0 || k->rank > 1 || k->n > MAX_RANK)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "only indexing a 1-D int64 constant is folded");
    int64_t *o = onnx_arena_alloc(&r->scratch, (k->n ? k->n : 1) * sizeof *o);
    if (!o)
        return oom(r);
    for (size_t j = 0; j < k->n; j++) {
        int64_t ix = k->i[j] < 0 ? k->i[j] + (int64_t)d->n : k->i[j];
        if (ix < 0 || ix >= (int64_t)d->n)
            NODE_FAIL(r, CD_ERR_FORMAT, "index %lld out of range", (long long)k->i[j]);
        o[j] = d->i[ix];
    }
    y->defined = 1;
    y->kind = V_CONST;
    y->is_int = 1;
    y->rank = k->rank;
    y->dims[0] = (int64_t)k->n;
    y->n = k->n;
    y->i = o;
    return 0;
}

static int op_unsqueeze(reader *r)
{
    val *x = input(r, 0), *y;
    if (!x)
        return -1;
    if (x->kind != V_CONST)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "only unsqueezing shape constants is folded");
    if (!(x = as_const(r, x)) || !(y = output(r, 0)))
        return -1;
    if (x->rank != 0)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "only a scalar becomes a 1-D constant");
    *y = (val){.name = y->name, .uses = y->uses, .defined = 1, .kind = V_CONST, .is_int = x->is_int,
               .rank = 1, .dims = {1}, .n = 1, .f = x->f, .i = x->i, .layer = -1};
    return 0;
}

/* ---- the walk ----------------------------------------------------------- */

static int map_node(reader *r)
{
    const Onnx__NodeProto *nd = r->node;
    const char *op = nd->op_type ? nd->op_type : "";
    if (nd->domain && nd->domain[0] && strcmp(nd->domain, "ai.onnx") != 0)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "op %.40s of domain '%.40s' is not supported", op, nd->domain);
    if (strcmp(op, "Conv") == 0) return op_conv(r);
    if (strcmp(op, "Clip") == 0) return op_clip(r);
    if (strcmp(op, "Mul") == 0) return op_mul_swish(r);
    if (strcmp(op, "PRelu") == 0) return op_prelu(r);
    int act_rc = op_act_named(r, op); /* Relu, LeakyRelu, Gelu, ... (onnx_acts.c) */
    if (act_rc != 0) return act_rc > 0 ? 0 : -1;
    if (strcmp(op, "MaxPool") == 0) return op_pool(r, LAYER_MAXPOOL2D);
    if (strcmp(op, "AveragePool") == 0) return op_pool(r, LAYER_AVGPOOL2D);
    if (strcmp(op, "GlobalAveragePool") == 0) return op_global_pool(r, LAYER_GLOBAL_AVGPOOL2D);
    if (strcmp(op, "GlobalMaxPool") == 0) return op_global_pool(r, LAYER_GLOBAL_MAXPOOL2D);
    if (strcmp(op, "Flatten") == 0) return op_flatten(r);
    if (strcmp(op, "Transpose") == 0) return op_transpose(r);
    if (strcmp(op, "Reshape") == 0) return op_reshape(r);
    if (strcmp(op, "Squeeze") == 0) return op_squeeze(r);
    if (strcmp(op, "Gemm") == 0) return op_gemm(r);
    if (strcmp(op, "MatMul") == 0) return op_matmul(r);
    if (strcmp(op, "Add") == 0) return op_add(r);
    if (strcmp(op, "Concat") == 0) return op_concat(r);
    if (strcmp(op, "Dropout") == 0 || strcmp(op, "Identity") == 0) return op_identity(r);
    if (strcmp(op, "Constant") == 0) return op_constant(r);
    if (strcmp(op, "Pad") == 0) return op_pad(r);
    if (strcmp(op, "Slice") == 0) return op_slice(r);
    if (strcmp(op, "BatchNormalization") == 0) return op_batchnorm(r);
    if (strcmp(op, "Shape") == 0) return op_shape(r);
    if (strcmp(op, "Gather") == 0) return op_gather(r);
    if (strcmp(op, "Unsqueeze") == 0) return op_unsqueeze(r);
    NODE_FAIL(r, CD_ERR_UNSUPPORTED, "op %.40s (opset %d) is not supported", op, r->opset);
}

/* The graph's image input: the first input that is not an initializer. */
static int map_input(reader *r, const Onnx__GraphProto *g)
{
    const Onnx__ValueInfoProto *vi = NULL;
    for (size_t i = 0; i < g->n_input && !vi; i++) {
        val *v = g->input[i]->name ? lookup(r, g->input[i]->name, 0) : NULL;
        if (!v || !v->defined)
            vi = g->input[i];
    }
    if (!vi || !vi->name || !vi->name[0])
        return cd_err_set(r->err, CD_ERR_FORMAT, "the graph has no input");
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type ||
        tp->tensor_type->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return cd_err_set(r->err, CD_ERR_UNSUPPORTED, "input '%.60s' is not a float32 tensor", vi->name);
    const Onnx__TensorShapeProto *sh = tp->tensor_type->shape;
    if (!sh || sh->n_dim != 4)
        return cd_err_set(r->err, CD_ERR_UNSUPPORTED,
                          "input '%.60s' is not an image batch (N, C, H, W)", vi->name);
    long long d[4];
    for (int i = 0; i < 4; i++) {
        const Onnx__TensorShapeProto__Dimension *dm = sh->dim[i];
        d[i] = dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ? dm->dim_value : -1;
    }
    for (int i = 2; i < 4; i++)
        if (d[i] < 0) {
            if (!r->opts || r->opts->img_size <= 0)
                return cd_err_set(r->err, CD_ERR_INVALID,
                                  "input '%.60s' has a dynamic height or width; export it with a "
                                  "fixed size (catdog info takes --img-size)",
                                  vi->name);
            d[i] = r->opts->img_size;
        }
    if (d[1] < 1 || d[1] > 64 || d[2] < 1 || d[3] < 1 || d[2] > 16384 || d[3] > 16384)
        return cd_err_set(r->err, CD_ERR_UNSUPPORTED,
                          "input '%.60s' has shape (N, %lld, %lld, %lld); catdog takes up to 64 "
                          "channels and 16384x16384 pixels",
                          vi->name, d[1], d[2], d[3]);
    layer l = layer_template(LAYER_INPUT, "input", -1);
    l.in_c = (int)d[1];
    l.in_h = (int)d[2];
    l.in_w = (int)d[3];
    int idx = add_layer(r, &l);
    if (idx < 0)
        return -1;
    val *v = lookup(r, vi->name, 1);
    if (!v)
        return -1;
    v->defined = 1;
    v->kind = V_MAP;
    v->layer = idx;
    v->c = l.in_c;
    v->h = l.in_h;
    v->w = l.in_w;
    return 0;
}

/* The graph's output: probabilities after Sigmoid/Softmax, else logits that
 * get the sigmoid (1 unit) or softmax (2 units) here. */
static int map_output(reader *r, const Onnx__GraphProto *g)
{
    if (g->n_output < 1 || !g->output[0]->name)
        return cd_err_set(r->err, CD_ERR_FORMAT, "the graph has no output");
    val *v = lookup(r, g->output[0]->name, 0);
    if (!v || !v->defined)
        return cd_err_set(r->err, CD_ERR_FORMAT, "output '%.60s' is made by no node", g->output[0]->name);
    if (v->kind == V_DOG) {
        /* The model keeps its 2 units; the predictor reads P(dog) from unit 1. */
        v->kind = V_VEC;
    }
    if (v->kind != V_VEC || (v->c != 1 && v->c != 2))
        return cd_err_set(r->err, CD_ERR_UNSUPPORTED,
                          "output '%.60s' is not (N, 1) or (N, 2); a cat/dog classifier gives one "
                          "sigmoid or two softmax values",
                          g->output[0]->name);
    layer *p = &r->m->layers[v->layer];
    if (p->act == ACT_SIGMOID || p->act == ACT_SOFTMAX) {
        r->m->output = v->layer;
        return 0;
    }
    layer_act act = v->c == 1 ? ACT_SIGMOID : ACT_SOFTMAX;
    if (v->uses == 1 && (p->kind == LAYER_DENSE || p->kind == LAYER_CONV2D) && p->act == ACT_LINEAR) {
        p->act = act;
        r->m->output = v->layer;
        return 0;
    }
    layer l = layer_template(LAYER_ACTIVATION, "output_probability", v->layer);
    l.act = act;
    int idx = add_layer(r, &l);
    if (idx < 0)
        return -1;
    r->m->output = idx;
    return 0;
}

/* Counts the names a graph can hold and how often each is read. */
static int index_graph(reader *r, const Onnx__GraphProto *g)
{
    size_t names = g->n_initializer + g->n_input + g->n_output;
    for (size_t i = 0; i < g->n_node; i++)
        names += g->node[i]->n_output + g->node[i]->n_input;
    r->cap_vals = names + 1;
    r->table_cap = 16;
    while (r->table_cap < 2 * r->cap_vals)
        r->table_cap *= 2;
    r->vals = onnx_arena_alloc(&r->scratch, r->cap_vals * sizeof *r->vals);
    r->table = onnx_arena_alloc(&r->scratch, r->table_cap * sizeof *r->table);
    if (!r->vals || !r->table)
        return oom(r);
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        if (!t->name || !t->name[0])
            return cd_err_set(r->err, CD_ERR_FORMAT, "initializer %zu has no name", i);
        val *v = lookup(r, t->name, 1);
        if (!v)
            return -1;
        v->defined = 1;
        v->kind = V_CONST;
        v->tp = t;
    }
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *nd = g->node[i];
        for (size_t k = 0; k < nd->n_input; k++) {
            val *v = nd->input[k][0] ? lookup(r, nd->input[k], 1) : NULL;
            if (v)
                v->uses++;
        }
    }
    for (size_t i = 0; i < g->n_output; i++) {
        val *v = g->output[i]->name ? lookup(r, g->output[i]->name, 1) : NULL;
        if (v)
            v->uses++;
    }
    return 0;
}

static int read_graph(reader *r, const Onnx__ModelProto *mp)
{
    const Onnx__GraphProto *g = mp->graph;
    if (!g)
        return cd_err_set(r->err, CD_ERR_FORMAT, "the file holds no graph (not an ONNX model?)");
    int opset = -1;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *os = mp->opset_import[i];
        if (!os->domain || !os->domain[0] || strcmp(os->domain, "ai.onnx") == 0)
            opset = os->has_version ? (int)(os->version > 1000 ? 1000 : os->version) : -1;
    }
    if (opset < ONNX_OPSET_MIN || opset > ONNX_OPSET_MAX)
        return cd_err_set(r->err, CD_ERR_UNSUPPORTED,
                          "opset %d of the default domain is not supported (%d to %d)", opset,
                          ONNX_OPSET_MIN, ONNX_OPSET_MAX);
    r->opset = opset;
    char name[MODEL_NAME_MAX];
    snprintf(name, sizeof name, "%s", g->name && g->name[0] ? g->name : "onnx");
    if (!(r->m = model_new(name, r->err)))
        return -1;
    snprintf(r->m->arch, sizeof r->m->arch, "onnx");
    r->m->preprocess = CD_PRE_TORCH;
    for (size_t i = 0; i < mp->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *e = mp->metadata_props[i];
        if (e->key && e->value && strcmp(e->key, "catdog_preprocess") == 0 &&
            cd_preprocess_parse(e->value, &r->m->preprocess) != 0)
            return cd_err_set(r->err, CD_ERR_FORMAT, "metadata catdog_preprocess '%.40s' is unknown",
                              e->value);
    }
    if (index_graph(r, g) != 0 || map_input(r, g) != 0)
        return -1;
    for (size_t i = 0; i < g->n_node; i++) {
        r->node = g->node[i];
        r->node_index = i;
        if (map_node(r) != 0)
            return -1;
    }
    r->node = NULL;
    if (map_output(r, g) != 0)
        return -1;
    return model_infer_shapes(r->m, r->err);
}

static model *load(const void *bytes, size_t len, const char *source, const char *dir,
                   const onnx_load_opts *opts, cd_err *err)
{
    reader r = {.source = source, .dir = dir, .opts = opts, .err = err};
    if (len > ONNX_MAX_FILE_BYTES) {
        cd_err_set(err, CD_ERR_LIMIT, "%s: %zu bytes, over ONNX's 2 GiB", source, len);
        return NULL;
    }
    size_t budget = UNPACK_BUDGET_FACTOR * len + UNPACK_BUDGET_EXTRA;
    r.arena.budget = budget;
    r.scratch.budget = budget;
    ProtobufCAllocator al = onnx_arena_allocator(&r.arena);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(&al, len, bytes);
    model *m = NULL;
    if (!mp) {
        if (r.arena.refused)
            cd_err_set(err, CD_ERR_LIMIT, "%s: decoding would need more than %zu bytes of memory "
                       "for a %zu-byte file", source, budget, len);
        else
            cd_err_set(err, CD_ERR_FORMAT, "%s: not an ONNX model (protobuf decoding failed: "
                       "truncated or not protobuf)", source);
    } else if (read_graph(&r, mp) != 0) {
        cd_err_wrap(err, "%s", source);
        /* Names from the file are quoted in messages; keep them one printable line. */
        for (char *c = err->msg; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = '?';
    } else {
        m = r.m;
        r.m = NULL;
    }
    model_free(r.m);
    onnx_arena_free(&r.arena);
    onnx_arena_free(&r.scratch);
    return m;
}

model *onnx_load_memory(const void *bytes, size_t len, const char *source,
                        const onnx_load_opts *opts, cd_err *err)
{
    return load(bytes, len, source, NULL, opts, err);
}

model *onnx_load(const char *path, const onnx_load_opts *opts, cd_err *err)
{
    size_t len = 0;
    unsigned char *bytes = cd_read_file(path, ONNX_MAX_FILE_BYTES, &len, err);
    if (!bytes)
        return NULL;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    model *m = load(bytes, len, path, dir, opts, err);
    free(bytes);
    return m;
}

int onnx_is_onnx_file(const char *path)
{
    unsigned char sig[8] = {0};
    size_t got = 0;
    FILE *f = fopen(path, "rb");
    if (f) {
        got = fread(sig, 1, sizeof sig, f);
        fclose(f);
    }
    /* An HDF5 file is Keras whatever its name (the Keras loader says what is wrong). */
    if (got == 8 && memcmp(sig, "\x89HDF\r\n\x1a\n", 8) == 0)
        return 0;
    size_t n = strlen(path);
    if (n >= 5 && strcasecmp(path + n - 5, ".onnx") == 0)
        return 1;
    /* ONNX writers put ModelProto's field 1 (ir_version, a varint: tag 0x08) first. */
    return got >= 2 && sig[0] == 0x08 && sig[1] >= 1 && sig[1] <= 20;
}
