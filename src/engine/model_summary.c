/*
 * model_summary.c - the Keras 2 style summary table of a model (model.h).
 *
 * Reproduces Keras' print_summary for sequential-like models: a 65-column
 * table with the columns "Layer (type)", "Output Shape", "Param #" cut at
 * columns 29, 55 and 65, then the totals with thousands separators.  Layers of
 * a nested model (non-empty scope) are shown as one "(Model)" line, as Keras
 * shows a model used as a layer.  The InputLayer row is left out when the
 * top level is a plain chain, as Keras does for Sequential models.
 */
#include "engine/model.h"

#include <stdio.h>
#include <string.h>

#define SUMMARY_WIDTH 65

/* Appends field to a row as Keras' print_row does: the previous column's last
 * character becomes a space, the field is cut at `pos` and padded up to it. */
static void row_add(char *row, const char *field, int pos)
{
    size_t len = strlen(row);
    if (len > 0)
        row[len - 1] = ' ';
    snprintf(row + len, (size_t)SUMMARY_WIDTH + 1 - len, "%s", field);
    len = strlen(row);
    if (len > (size_t)pos)
        row[pos] = '\0';
    while (strlen(row) < (size_t)pos)
        strcat(row, " ");
}

static void print_row(FILE *out, const char *a, const char *b, const char *c)
{
    char row[SUMMARY_WIDTH + 2] = "";
    row_add(row, a, 29);
    row_add(row, b, 55);
    row_add(row, c, 65);
    fprintf(out, "%s\n", row);
}

static void rule(FILE *out, char ch)
{
    for (int i = 0; i < SUMMARY_WIDTH; i++)
        fputc(ch, out);
    fputc('\n', out);
}

static void shape_text(const layer *l, char *buf, size_t size)
{
    if (l->out_rank == 2)
        snprintf(buf, size, "(None, %d)", l->out_c);
    else
        snprintf(buf, size, "(None, %d, %d, %d)", l->out_h, l->out_w, l->out_c);
}

/* 1,212,513 */
static void thousands(size_t v, char *buf, size_t size)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%zu", v);
    size_t n = strlen(digits), j = 0;
    for (size_t i = 0; i < n && j + 2 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[j++] = ',';
        buf[j++] = digits[i];
    }
    buf[j] = '\0';
}

/* 1 when every top-level layer but the input reads just the layer before it. */
static int top_level_is_chain(const model *m)
{
    for (int i = 1; i < m->n_layers; i++) {
        const layer *l = &m->layers[i];
        if (l->scope[0])
            continue;
        if (l->n_inputs != 1 || l->inputs[0] != i - 1)
            return 0;
    }
    return 1;
}

/* The layer whose activation leaves nested model `scope`: the model's output
 * when it lies inside, else the one a layer outside reads; `last` (the scope's
 * last layer) when neither (a nested model nobody reads). */
static int scope_output(const model *m, const char *scope, int last)
{
    int out = model_output_index(m);
    if (out >= 0 && strcmp(m->layers[out].scope, scope) == 0)
        return out;
    for (int j = 0; j < m->n_layers; j++) {
        if (strcmp(m->layers[j].scope, scope) == 0)
            continue;
        for (int k = 0; k < m->layers[j].n_inputs; k++) {
            int src = m->layers[j].inputs[k];
            if (strcmp(m->layers[src].scope, scope) == 0)
                return src;
        }
    }
    return last;
}

/* 1 when an earlier layer has the same scope (its Model line is printed). */
static int scope_seen_before(const model *m, int idx)
{
    for (int i = 0; i < idx; i++)
        if (strcmp(m->layers[i].scope, m->layers[idx].scope) == 0)
            return 1;
    return 0;
}

void model_summary(const model *m, FILE *out)
{
    if (!m || !out)
        return;
    int chain = top_level_is_chain(m);
    fprintf(out, "Model: \"%s\"\n", m->name);
    rule(out, '_');
    print_row(out, "Layer (type)", "Output Shape", "Param #");
    rule(out, '=');

    int printed = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const layer *l = &m->layers[i];
        char name[2 * LAYER_NAME_MAX + 16], shape[64], params[32];
        if (l->scope[0]) {
            if (scope_seen_before(m, i))
                continue;
            size_t sum = 0;
            int last = i;
            for (int j = i; j < m->n_layers; j++) {
                if (strcmp(m->layers[j].scope, l->scope) == 0) {
                    sum += layer_param_count(&m->layers[j]);
                    last = j;
                }
            }
            snprintf(name, sizeof name, "%s (Model)", l->scope);
            shape_text(&m->layers[scope_output(m, l->scope, last)], shape, sizeof shape);
            snprintf(params, sizeof params, "%zu", sum);
        } else {
            if (l->kind == LAYER_INPUT && chain)
                continue;
            snprintf(name, sizeof name, "%s (%s)", l->name, layer_kind_name(l->kind));
            shape_text(l, shape, sizeof shape);
            snprintf(params, sizeof params, "%zu", layer_param_count(l));
        }
        if (printed++)
            rule(out, '_');
        print_row(out, name, shape, params);
    }
    rule(out, '=');

    size_t total, trainable, frozen;
    char a[40], b[40], c[40];
    model_param_counts(m, &total, &trainable, &frozen);
    thousands(total, a, sizeof a);
    thousands(trainable, b, sizeof b);
    thousands(frozen, c, sizeof c);
    fprintf(out, "Total params: %s\nTrainable params: %s\nNon-trainable params: %s\n", a, b, c);
    rule(out, '_');
}
