/*
 * onnx_write_names.c - the names one export gives out (see onnx_write.h):
 * every value (node output, initializer, the graph's input and output) and
 * every node name goes through a set kept in the writer's arena, so no two
 * values and no two nodes share a name however the model's layers are named.
 * A name already given becomes "<name>#<k>" with the smallest k >= 1 free.
 */
#include "onnx/onnx_write.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint64_t hash(const char *s)
{
    uint64_t h = 14695981039346656037u;   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* The slot holding `name`, or the free slot where it would go. */
static ow_name_entry *slot(const ow_names *t, const char *name)
{
    size_t mask = t->cap - 1, i = (size_t)(hash(name) & mask);
    while (t->slots[i].name && strcmp(t->slots[i].name, name) != 0)
        i = (i + 1) & mask;
    return &t->slots[i];
}

/* Room for one more name (at most half full); 0 or -1 with err set. */
static int reserve(onnx_writer *w, ow_names *t)
{
    if (t->cap && 2 * (t->n + 1) <= t->cap)
        return 0;
    size_t cap = t->cap ? 2 * t->cap : 256;
    ow_names grown = {.cap = cap, .n = t->n};
    if (cap < t->cap || !(grown.slots = onnx_arena_alloc(&w->arena, cap * sizeof *grown.slots)))
        return ow_oom(w);
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].name)
            *slot(&grown, t->slots[i].name) = t->slots[i];
    *t = grown;   /* the old table stays in the arena until the export ends */
    return 0;
}

/* a followed by b, or a b "#k" when that is taken, added to t; NULL with err set. */
static const char *claim(onnx_writer *w, ow_names *t, const char *a, const char *b)
{
    if (reserve(w, t) != 0)
        return NULL;
    size_t len = strlen(a) + strlen(b), room = len + 24;
    char *s = onnx_arena_alloc(&w->arena, room);
    if (!s) {
        ow_oom(w);
        return NULL;
    }
    snprintf(s, room, "%s%s", a, b);
    ow_name_entry *e = slot(t, s);
    for (unsigned long k = 1; e->name; k++) {
        snprintf(s + len, room - len, "#%lu", k);
        e = slot(t, s);
    }
    e->name = s;
    e->defined = 0;
    t->n++;
    return s;
}

const char *ow_value(onnx_writer *w, const char *a, const char *b)
{
    return claim(w, &w->values, a, b);
}

const char *ow_node_name(onnx_writer *w, const char *name)
{
    return claim(w, &w->node_names, name, "");
}

int ow_define(onnx_writer *w, const char *name)
{
    ow_name_entry *e = w->values.cap ? slot(&w->values, name) : NULL;
    if (!e || !e->name || e->defined)
        return cd_err_set(w->err, CD_ERR_INVALID,
                          "ONNX export of model '%s': value '%.80s' is %s (a bug in the writer)", w->m->name,
                          name, e && e->name ? "written twice" : "written without being named first");
    e->defined = 1;
    return 0;
}
