/*
 * keras_json_read.c - a Keras JSON model config becomes one flat model graph.
 *
 * Accepted (Keras 2.x and tf.keras spellings):
 *   Sequential  config {"name", "layers": [...]} or, as Keras 2.2.x wrote it,
 *               the bare list of layers; the input comes from an InputLayer,
 *               from batch_input_shape on the first layer, or from a nested
 *               model that is the first layer (the seed's transfer model).
 *   Model / Functional  layers with inbound_nodes ([[["name", node, tensor,
 *               {}], ...]], or Keras 3's [{"args": [keras tensors], ...}]),
 *               input_layers, output_layers (Keras 3: a bare ["name", 0, 0]
 *               when there is one).
 *   Nested models (Sequential or Model as a layer) are flattened in place: their
 *   layers get layer.scope = the nested model's name (the outermost one when
 *   nesting is deeper), and their InputLayer stands for whatever feeds the
 *   nested model, so no copy is made.
 *
 * Layer classes: InputLayer here, the others by their rows in keras_layers.c.
 * Anything else is refused with an error naming the class and the layer.
 */
#include "modelfile/keras_internal.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "modelfile/keras.h"
#include "modelfile/keras_layers.h"

typedef struct builder {
    model *m;
    const char *src;   /* file or source name for messages */
    int img_size;      /* > 0: replaces the input's height and width */
    cd_err *err;
    int depth;         /* nesting depth, bounded against hostile files */
    int keras3;        /* Keras 3 config (keras_config_is_keras3) */
} builder;

#define MAX_DEPTH 16

/* Keras layer name -> index in the flat graph, for one network's layers. */
typedef struct name_map {
    const char **names;  /* borrowed from the JSON document */
    int *idx;
    int n;
} name_map;

static int map_find(const name_map *nm, const char *name)
{
    for (int i = 0; i < nm->n; i++)
        if (strcmp(nm->names[i], name) == 0)
            return nm->idx[i];
    return -1;
}

static int bad(builder *b, cd_code code, const char *layer_name, const char *fmt, const char *arg)
{
    keras_rd rd = {b->src, b->err, b->keras3};
    return keras_rd_bad(&rd, code, layer_name, fmt, arg);
}

static int add_layer(builder *b, layer *l)
{
    int idx = model_add(b->m, l, b->err);
    if (idx < 0)
        cd_err_wrap(b->err, "%s", b->src);
    return idx;
}

/* Creates the model's input layer from a batch shape [null, H, W, C]. */
static int add_input(builder *b, json_t *cfg, const char *name, const char *scope)
{
    if (model_find(b->m, name) >= 0 || (b->m->n_layers > 0 && b->m->layers[0].kind == LAYER_INPUT))
        return bad(b, CD_ERR_UNSUPPORTED, name, "%s",
                   "a second model input (catdog models take one image input)");
    json_t *shape = json_object_get(cfg, "batch_input_shape");
    if (!shape)
        shape = json_object_get(cfg, "batch_shape");
    if (!json_is_array(shape))
        return bad(b, CD_ERR_FORMAT, name, "%s", "no batch_input_shape for the model input");
    if (json_array_size(shape) != 4)
        return bad(b, CD_ERR_UNSUPPORTED, name, "%s",
                   "input is not an image batch (batch, height, width, channels)");
    int d[3];
    for (int i = 0; i < 3; i++) {
        json_t *v = json_array_get(shape, (size_t)i + 1);
        d[i] = json_is_integer(v) ? keras_jint(v) : 0;
    }
    if (b->img_size > 0)
        d[0] = d[1] = b->img_size;
    if (d[2] <= 0)
        return bad(b, CD_ERR_FORMAT, name, "%s", "input has no fixed channel count");
    if (d[0] <= 0 || d[1] <= 0)
        return bad(b, CD_ERR_INVALID, name, "%s",
                   "input height/width are open (None) in the file; give an input size");
    layer l = layer_template(LAYER_INPUT, name, -1);
    snprintf(l.scope, sizeof l.scope, "%s", scope);
    l.in_h = d[0];
    l.in_w = d[1];
    l.in_c = d[2];
    return add_layer(b, &l);
}

/* One computing layer of class `cls` with config cfg reading `inputs`; the
 * class's own configuration is read by its row in keras_layers.c. */
static int add_keras_layer(builder *b, const char *cls, json_t *cfg, const char *name,
                           const int *inputs, int n_inputs, const char *scope, int trainable)
{
    layer l = layer_template(LAYER_INPUT, name, -1);
    snprintf(l.scope, sizeof l.scope, "%s", scope);
    l.trainable = trainable && keras_jbool(cfg, "trainable", 1);
    if (n_inputs > LAYER_MAX_INPUTS)
        return bad(b, CD_ERR_UNSUPPORTED, name, "more than %s inputs", "8");
    for (int i = 0; i < n_inputs; i++)
        l.inputs[i] = inputs[i];
    l.n_inputs = n_inputs;
    const keras_reader *r = keras_reader_find(cls);
    if (n_inputs == 1 && keras_inference_identity(cls))
        return inputs[0]; /* the layer stands for its input */
    if (n_inputs != 1 && !(r && r->multi_input))
        return bad(b, CD_ERR_UNSUPPORTED, name, "%s takes exactly one input", cls);
    if (!r && strcmp(cls, "Lambda") == 0)
        return bad(b, CD_ERR_UNSUPPORTED, name, "%s",
                   "a Lambda layer holds Python code, which catdog cannot run safely; "
                   "rebuild the model with built-in layers (e.g. Rescaling) instead");
    if (!r) {
        char what[160];
        snprintf(what, sizeof what, "layer class '%s' is not supported", cls);
        return bad(b, CD_ERR_UNSUPPORTED, name, "%s", what);
    }
    l.kind = r->kind;
    keras_rd rd = {b->src, b->err, b->keras3};
    if (r->read && r->read(&rd, cfg, name, &l) != 0)
        return -1;
    return add_layer(b, &l);
}

static int is_network_class(const char *cls)
{
    return strcmp(cls, "Sequential") == 0 || strcmp(cls, "Model") == 0 ||
           strcmp(cls, "Functional") == 0;
}

static int build_net(builder *b, json_t *entry, const char *scope, int trainable,
                     const int *feeds, int n_feeds, int *out);

/* The layer list of a Sequential config (dict form or Keras 2.2's bare list). */
static json_t *seq_layers(json_t *config)
{
    if (json_is_array(config))
        return config;
    return json_object_get(config, "layers");
}

static int build_seq(builder *b, json_t *config, const char *scope, int trainable,
                     const int *feeds, int n_feeds, int *out)
{
    json_t *layers = seq_layers(config);
    if (!json_is_array(layers) || json_array_size(layers) == 0)
        return bad(b, CD_ERR_FORMAT, NULL, "%s", "Sequential model without layers");
    if (n_feeds > 1)
        return bad(b, CD_ERR_UNSUPPORTED, NULL, "%s", "Sequential model fed by several inputs");
    int prev = n_feeds == 1 ? feeds[0] : -1;
    size_t i;
    json_t *entry;
    json_array_foreach(layers, i, entry) {
        const char *cls = keras_jstr(entry, "class_name");
        json_t *cfg = json_object_get(entry, "config");
        const char *name = cfg ? keras_jstr(cfg, "name") : NULL;
        if (!cls || !json_is_object(cfg) || !name) {
            if (cls && is_network_class(cls) && json_is_array(cfg))
                name = "sequential"; /* a nested Keras 2.2 Sequential has no name */
            else
                return bad(b, CD_ERR_FORMAT, NULL, "%s",
                           "a Sequential layer entry without class_name/config/name");
        }
        if (strcmp(cls, "InputLayer") == 0) {
            if (i != 0)
                return bad(b, CD_ERR_FORMAT, name, "%s", "InputLayer after the first layer");
            if (prev < 0 && (prev = add_input(b, cfg, name, scope)) < 0)
                return -1;
            continue;
        }
        if (is_network_class(cls)) {
            if (build_net(b, entry, scope[0] ? scope : name, trainable, prev >= 0 ? &prev : NULL,
                          prev >= 0 ? 1 : 0, &prev) != 0)
                return -1;
            continue;
        }
        if (prev < 0) {
            /* Keras names the implicit input after the first layer. */
            char in_name[LAYER_NAME_MAX];
            snprintf(in_name, sizeof in_name, "%s_input", name);
            if ((prev = add_input(b, cfg, in_name, scope)) < 0)
                return -1;
        }
        if ((prev = add_keras_layer(b, cls, cfg, name, &prev, 1, scope, trainable)) < 0)
            return -1;
    }
    if (prev < 0)
        return bad(b, CD_ERR_FORMAT, NULL, "%s", "Sequential model without an input");
    *out = prev;
    return 0;
}

/* Keras 3 writes a node as {"args": [...], "kwargs": {...}} whose arguments
 * hold tensors {"class_name": "__keras_tensor__", "config": {"keras_history":
 * [name, node, tensor]}}, alone or in lists (Add, Concatenate).  Appends every
 * keras_history found in v, in order, to refs (Keras 2's node form). */
static int collect_history(json_t *v, json_t *refs, int depth)
{
    if (depth > MAX_DEPTH)
        return -1;
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (collect_history(e, refs, depth + 1) != 0)
                return -1;
        }
        return 0;
    }
    if (!json_is_object(v))
        return 0;
    const char *cls = keras_jstr(v, "class_name");
    json_t *cfg = json_object_get(v, "config");
    if (cls && strcmp(cls, "__keras_tensor__") == 0 && json_is_object(cfg)) {
        json_t *h = json_object_get(cfg, "keras_history");
        return json_is_array(h) ? json_array_append(refs, h) : -1;
    }
    return 0;
}

/* Resolves a node's tensor references ([["name", node, tensor, {}], ...], or
 * Keras 3's {"args": ...}) to indices.  1 when all are known, 0 when some are
 * not yet, -1 on error. */
static int resolve_node(builder *b, json_t *node, const name_map *nm, const char *name,
                        int *inputs, int *n_inputs)
{
    if (json_is_object(node)) {
        json_t *refs = json_array();
        int rc = refs && collect_history(json_object_get(node, "args"), refs, 0) == 0
                     ? resolve_node(b, refs, nm, name, inputs, n_inputs)
                     : bad(b, CD_ERR_FORMAT, name, "%s", "bad inbound_nodes entry");
        json_decref(refs);
        return rc;
    }
    if (!json_is_array(node) || json_array_size(node) == 0)
        return bad(b, CD_ERR_FORMAT, name, "%s", "bad inbound_nodes entry");
    if (json_array_size(node) > LAYER_MAX_INPUTS)
        return bad(b, CD_ERR_UNSUPPORTED, name, "more than %s inputs", "8");
    size_t i;
    json_t *ref;
    *n_inputs = 0;
    json_array_foreach(node, i, ref) {
        json_t *src = json_array_get(ref, 0);
        json_t *tensor = json_array_get(ref, 2);
        if (!json_is_string(src))
            return bad(b, CD_ERR_FORMAT, name, "%s", "bad inbound_nodes entry");
        if (json_is_integer(tensor) && json_integer_value(tensor) != 0)
            return bad(b, CD_ERR_UNSUPPORTED, name, "%s",
                       "reads a second output of a layer (multi-output layers are not supported)");
        int idx = map_find(nm, json_string_value(src));
        if (idx < 0)
            return 0;
        inputs[(*n_inputs)++] = idx;
    }
    return 1;
}

/* Keras 3 writes a model with one input (output) as the bare reference
 * ["name", 0, 0]; Keras 2 as the list [["name", 0, 0]].  Returns the list
 * form (a new array owned by `v` when wrapped, so freed with the config). */
static json_t *one_ref_list(json_t *v)
{
    if (!json_is_array(v) || !json_is_string(json_array_get(v, 0)))
        return v;
    json_t *copy = json_deep_copy(v);
    if (!copy)
        return NULL;
    json_array_clear(v);
    if (json_array_append_new(v, copy) != 0)
        return NULL;
    return v;
}

static int build_func(builder *b, json_t *config, const char *scope, int trainable,
                      const int *feeds, int n_feeds, int *out)
{
    json_t *layers = json_object_get(config, "layers");
    json_t *in_layers = one_ref_list(json_object_get(config, "input_layers"));
    json_t *out_layers = one_ref_list(json_object_get(config, "output_layers"));
    if (!json_is_array(layers) || json_array_size(layers) == 0 || !json_is_array(in_layers) ||
        !json_is_array(out_layers))
        return bad(b, CD_ERR_FORMAT, NULL, "%s",
                   "functional model config without layers/input_layers/output_layers");
    size_t n = json_array_size(layers);
    int rc = -1;
    name_map nm = {calloc(n, sizeof(char *)), calloc(n, sizeof(int)), 0};
    char *done = calloc(n, 1);
    if (!nm.names || !nm.idx || !done) {
        cd_err_set(b->err, CD_ERR_NOMEM, "%s: out of memory", b->src);
        goto out_free;
    }
    if (n_feeds > 0 && (size_t)n_feeds != json_array_size(in_layers)) {
        bad(b, CD_ERR_FORMAT, NULL, "%s", "a nested model is fed a different number of inputs");
        goto out_free;
    }
    /* Passes until every layer is placed: Keras lists layers by depth, so one
     * pass normally suffices; more only for unusual orders. */
    size_t placed = 0;
    while (placed < n) {
        size_t before = placed;
        for (size_t i = 0; i < n; i++) {
            if (done[i])
                continue;
            json_t *entry = json_array_get(layers, i);
            const char *cls = keras_jstr(entry, "class_name");
            const char *name = keras_jstr(entry, "name");
            json_t *cfg = json_object_get(entry, "config");
            if (!name && json_is_object(cfg))
                name = keras_jstr(cfg, "name");
            if (!cls || !name || !cfg) {
                bad(b, CD_ERR_FORMAT, NULL, "%s", "a layer entry without class_name/name/config");
                goto out_free;
            }
            int idx;
            if (strcmp(cls, "InputLayer") == 0) {
                if (n_feeds > 0) {
                    /* Nested: the input stands for what feeds the model. */
                    idx = -1;
                    size_t k;
                    json_t *ref;
                    json_array_foreach(in_layers, k, ref) {
                        json_t *nmv = json_array_get(ref, 0);
                        if (json_is_string(nmv) && strcmp(json_string_value(nmv), name) == 0)
                            idx = feeds[k];
                    }
                    if (idx < 0) {
                        bad(b, CD_ERR_FORMAT, name, "%s", "InputLayer not listed in input_layers");
                        goto out_free;
                    }
                } else if ((idx = add_input(b, cfg, name, scope)) < 0) {
                    goto out_free;
                }
            } else {
                json_t *nodes = json_object_get(entry, "inbound_nodes");
                if (!json_is_array(nodes) || json_array_size(nodes) == 0) {
                    bad(b, CD_ERR_FORMAT, name, "%s", "no inbound_nodes (the layer has no input)");
                    goto out_free;
                }
                if (json_array_size(nodes) > 1) {
                    bad(b, CD_ERR_UNSUPPORTED, name, "%s",
                        "is called more than once (shared layers are not supported)");
                    goto out_free;
                }
                int inputs[LAYER_MAX_INPUTS], n_in = 0;
                int r = resolve_node(b, json_array_get(nodes, 0), &nm, name, inputs, &n_in);
                if (r < 0)
                    goto out_free;
                if (r == 0)
                    continue; /* an input is not placed yet */
                if (is_network_class(cls)) {
                    if (build_net(b, entry, scope[0] ? scope : name, trainable, inputs, n_in,
                                  &idx) != 0)
                        goto out_free;
                } else if ((idx = add_keras_layer(b, cls, cfg, name, inputs, n_in, scope,
                                                  trainable)) < 0) {
                    goto out_free;
                }
            }
            nm.names[nm.n] = name;
            nm.idx[nm.n] = idx;
            nm.n++;
            done[i] = 1;
            placed++;
        }
        if (placed == before) {
            for (size_t i = 0; i < n; i++) {
                if (!done[i]) {
                    json_t *entry = json_array_get(layers, i);
                    const char *name = keras_jstr(entry, "name");
                    bad(b, CD_ERR_FORMAT, name ? name : "?", "%s",
                        "its inputs name layers that do not exist (or form a cycle)");
                    break;
                }
            }
            goto out_free;
        }
    }
    if (json_array_size(out_layers) != 1) {
        bad(b, CD_ERR_UNSUPPORTED, NULL, "%s", "a model with several outputs");
        goto out_free;
    }
    json_t *oname = json_array_get(json_array_get(out_layers, 0), 0);
    int oidx = json_is_string(oname) ? map_find(&nm, json_string_value(oname)) : -1;
    if (oidx < 0) {
        bad(b, CD_ERR_FORMAT, NULL, "%s", "output_layers names an unknown layer");
        goto out_free;
    }
    *out = oidx;
    rc = 0;
out_free:
    free(nm.names);
    free(nm.idx);
    free(done);
    return rc;
}

static int build_net(builder *b, json_t *entry, const char *scope, int trainable,
                     const int *feeds, int n_feeds, int *out)
{
    const char *cls = keras_jstr(entry, "class_name");
    json_t *config = json_object_get(entry, "config");
    if (!cls || !config)
        return bad(b, CD_ERR_FORMAT, NULL, "%s", "the config has no class_name/config");
    if (++b->depth > MAX_DEPTH)
        return bad(b, CD_ERR_UNSUPPORTED, NULL, "%s", "models nested too deeply");
    /* A nested model frozen as a whole (model.trainable = False) freezes its layers. */
    if (json_is_object(config))
        trainable = trainable && keras_jbool(config, "trainable", 1);
    int rc;
    if (strcmp(cls, "Sequential") == 0)
        rc = build_seq(b, config, scope, trainable, feeds, n_feeds, out);
    else if (strcmp(cls, "Model") == 0 || strcmp(cls, "Functional") == 0)
        rc = build_func(b, config, scope, trainable, feeds, n_feeds, out);
    else
        rc = bad(b, CD_ERR_UNSUPPORTED, NULL, "model class '%s' is not supported", cls);
    b->depth--;
    return rc;
}

model *keras_json_build(const char *json, const char *source_name, int img_size, cd_err *err)
{
    const char *src = source_name ? source_name : "model config";
    json_error_t jerr;
    json_t *root = json_loads(json, 0, &jerr);
    if (!root) {
        cd_err_set(err, CD_ERR_FORMAT, "%s: model config is not valid JSON (line %d: %s)", src,
                   jerr.line, jerr.text);
        return NULL;
    }
    model *m = NULL;
    json_t *config = json_object_get(root, "config");
    const char *cls = keras_jstr(root, "class_name");
    if (!cls || !config) {
        cd_err_set(err, CD_ERR_FORMAT, "%s: model config has no class_name/config", src);
        goto fail;
    }
    const char *name = json_is_object(config) ? keras_jstr(config, "name") : NULL;
    if (!(m = model_new(name ? name : "sequential", err)))
        goto fail;
    builder b = {m, src, img_size, err, 0, keras_config_is_keras3(root)};
    int out;
    if (build_net(&b, root, "", 1, NULL, 0, &out) != 0)
        goto fail;
    m->output = out == m->n_layers - 1 ? -1 : out;
    if (model_infer_shapes(m, err) != 0) {
        cd_err_wrap(err, "%s", src);
        goto fail;
    }
    keras_guess_arch(m);
    keras_decide_preprocess(m);
    keras_decide_output(m, NULL);
    json_decref(root);
    return m;
fail:
    model_free(m);
    json_decref(root);
    return NULL;
}

model *keras_from_json(const char *json, const char *source_name, cd_err *err)
{
    return keras_json_build(json, source_name, 0, err);
}
