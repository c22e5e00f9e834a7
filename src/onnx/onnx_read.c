/*
 * onnx_read.c - an ONNX graph onto catdog's engine (see onnx.h): loading,
 * the walk over the nodes, and the graph's input and output.
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

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/fileio.h"
#include "onnx/onnx_read.h"

/* protobuf-c may allocate this many times the file's size: its structs are
 * larger than their encodings (an empty NodeProto is 2 bytes on disk and about
 * 100 in memory), weights are copied once. */
#define UNPACK_BUDGET_FACTOR 16
#define UNPACK_BUDGET_EXTRA ((size_t)1 << 20)

/* ---- the walk ----------------------------------------------------------- */

/* The operators read, by ONNX op type; `arg` is the engine kind or
 * activation a shared handler makes. */
typedef struct rd_op_row {
    const char *op_type;
    int (*fn)(reader *r, int arg);
    int arg;
} rd_op_row;

static int h_conv(reader *r, int a) { (void)a; return rd_conv(r); }
static int h_clip(reader *r, int a) { (void)a; return rd_clip(r); }
static int h_prelu(reader *r, int a) { (void)a; return rd_prelu(r); }
/* Mul: PyTorch's SiLU (x * Sigmoid(x)) first, else arithmetic (rd_arith). */
static int h_mul(reader *r, int a)
{
    int rc = rd_mul_swish(r);
    return rc != 0 ? (rc > 0 ? 0 : -1) : rd_arith(r, a);
}
static int h_pool(reader *r, int a) { return rd_pool(r, (layer_kind)a); }
static int h_global_pool(reader *r, int a) { return rd_global_pool(r, (layer_kind)a); }
static int h_flatten(reader *r, int a) { (void)a; return rd_flatten(r); }
static int h_transpose(reader *r, int a) { (void)a; return rd_transpose(r); }
static int h_reshape(reader *r, int a) { (void)a; return rd_reshape(r); }
static int h_squeeze(reader *r, int a) { (void)a; return rd_squeeze(r); }
static int h_gemm(reader *r, int a) { (void)a; return rd_gemm(r); }
static int h_matmul(reader *r, int a) { (void)a; return rd_matmul(r); }
static int h_arith(reader *r, int a) { return rd_arith(r, a); }
static int h_variadic(reader *r, int a) { return rd_variadic(r, (layer_kind)a); }
static int h_concat(reader *r, int a) { (void)a; return rd_concat(r); }
static int h_identity(reader *r, int a) { (void)a; return rd_identity(r); }
static int h_constant(reader *r, int a) { (void)a; return rd_constant(r); }
static int h_pad(reader *r, int a) { (void)a; return rd_pad(r); }
static int h_slice(reader *r, int a) { (void)a; return rd_slice(r); }
static int h_batchnorm(reader *r, int a) { (void)a; return rd_batchnorm(r); }
static int h_shape(reader *r, int a) { (void)a; return rd_shape(r); }
static int h_gather(reader *r, int a) { (void)a; return rd_gather(r); }
static int h_unsqueeze(reader *r, int a) { (void)a; return rd_unsqueeze(r); }
static int h_resize(reader *r, int a) { (void)a; return rd_resize(r); }

static const rd_op_row OPS[] = {
    {"Conv", h_conv, 0},
    {"Clip", h_clip, 0},
    {"PRelu", h_prelu, 0},
    {"MaxPool", h_pool, LAYER_MAXPOOL2D},
    {"AveragePool", h_pool, LAYER_AVGPOOL2D},
    {"GlobalAveragePool", h_global_pool, LAYER_GLOBAL_AVGPOOL2D},
    {"GlobalMaxPool", h_global_pool, LAYER_GLOBAL_MAXPOOL2D},
    {"Flatten", h_flatten, 0},
    {"Transpose", h_transpose, 0},
    {"Reshape", h_reshape, 0},
    {"Squeeze", h_squeeze, 0},
    {"Gemm", h_gemm, 0},
    {"MatMul", h_matmul, 0},
    {"Add", h_arith, 0},
    {"Sub", h_arith, 1},
    {"Mul", h_mul, 2},
    {"Div", h_arith, 3},
    {"Sum", h_variadic, LAYER_ADD},
    {"Mean", h_variadic, LAYER_AVERAGE},
    {"Max", h_variadic, LAYER_MAXIMUM},
    {"Concat", h_concat, 0},
    {"Dropout", h_identity, 0},
    {"Identity", h_identity, 0},
    {"Constant", h_constant, 0},
    {"Pad", h_pad, 0},
    {"Slice", h_slice, 0},
    {"BatchNormalization", h_batchnorm, 0},
    {"Shape", h_shape, 0},
    {"Gather", h_gather, 0},
    {"Unsqueeze", h_unsqueeze, 0},
    {"Resize", h_resize, 0},
};

static int map_node(reader *r)
{
    const Onnx__NodeProto *nd = r->node;
    const char *op = nd->op_type ? nd->op_type : "";
    if (nd->domain && nd->domain[0] && strcmp(nd->domain, "ai.onnx") != 0)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "op %.40s of domain '%.40s' is not supported", op, nd->domain);
    int chain_rc = rd_chain(r);   /* Gelu / ReLU-threshold chains catdog writes */
    if (chain_rc != 0)
        return chain_rc > 0 ? 0 : -1;
    for (size_t k = 0; k < sizeof OPS / sizeof OPS[0]; k++)
        if (strcmp(op, OPS[k].op_type) == 0)
            return OPS[k].fn(r, OPS[k].arg);
    int act_rc = rd_act_named(r, op); /* Relu, Sigmoid, LeakyRelu, Gelu, ... (onnx_acts.c) */
    if (act_rc != 0)
        return act_rc > 0 ? 0 : -1;
    NODE_FAIL(r, CD_ERR_UNSUPPORTED, "op %.40s (opset %d) is not supported", op, r->opset);
}

/* The graph's image input: the first input that is not an initializer. */
static int map_input(reader *r, const Onnx__GraphProto *g)
{
    const Onnx__ValueInfoProto *vi = NULL;
    for (size_t i = 0; i < g->n_input && !vi; i++) {
        val *v = g->input[i]->name ? rd_lookup(r, g->input[i]->name, 0) : NULL;
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
                                  "input '%.60s' has a dynamic height or width: give the size "
                                  "to run it at with --img-size N (or export it with a fixed size)",
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
    int idx = rd_add_layer(r, &l);
    if (idx < 0)
        return -1;
    val *v = rd_lookup(r, vi->name, 1);
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
    val *v = rd_lookup(r, g->output[0]->name, 0);
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
    int idx = rd_add_layer(r, &l);
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
        return rd_oom(r);
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        if (!t->name || !t->name[0])
            return cd_err_set(r->err, CD_ERR_FORMAT, "initializer %zu has no name", i);
        val *v = rd_lookup(r, t->name, 1);
        if (!v)
            return -1;
        v->defined = 1;
        v->kind = V_CONST;
        v->tp = t;
    }
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *nd = g->node[i];
        for (size_t k = 0; k < nd->n_input; k++) {
            val *v = nd->input[k][0] ? rd_lookup(r, nd->input[k], 1) : NULL;
            if (v)
                v->uses++;
        }
    }
    for (size_t i = 0; i < g->n_output; i++) {
        val *v = g->output[i]->name ? rd_lookup(r, g->output[i]->name, 1) : NULL;
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
    r->graph = g;
    for (size_t i = 0; i < g->n_node; i++) {
        if (i < r->skip_to)
            continue;
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

