/*
 * report_html.c - the evaluation page (see report.h): per model, the numbers
 * from report/stats.h; then one HTML document written into memory and saved
 * atomically, so a page is never left half written.
 *
 * Machine-readable hooks the tests (and anyone scraping the page) rely on:
 * each confusion cell is <td class="cm" data-model="M" data-true="T"
 * data-pred="P">, each group's photo count <td class="grp" data-model="M"
 * data-by="size|orientation" data-group="G"> (G as in stats.h), each mistake
 * a <figure class="mistake"> inside <div class="mistakes" data-model="M">.
 */
#include "report/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "report/stats.h"
#include "report/svg.h"

static const char *const colors[REPORT_MAX_MODELS] = {"#1f77b4", "#e8710a", "#2ca02c", "#b5179e"};

typedef struct model_stats {
    float *p;                  /* owned: n P(dog) */
    int *y;                    /* owned: n labels */
    stats_curve roc, pr;       /* owned; n == 0 when undefined */
    stats_calibration cal;
    size_t cm[2][2];           /* [true][predicted] */
    size_t errors;
    size_t size_n[STATS_SIZE_COUNT], size_ok[STATS_SIZE_COUNT];
    size_t orient_n[STATS_ORIENT_COUNT], orient_ok[STATS_ORIENT_COUNT];
    size_t *mistakes;          /* owned: indices of the wrong verdicts, most confident first */
} model_stats;

static void stats_free(model_stats *s)
{
    free(s->p);
    free(s->y);
    free(s->mistakes);
    stats_curve_free(&s->roc);
    stats_curve_free(&s->pr);
}

/* How sure the model was of its (wrong) verdict. */
static double confidence(float p) { return p >= 0.5f ? (double)p : 1.0 - (double)p; }

/* qsort_r-free ordering: the context travels in the array itself. */
typedef struct ranked {
    double conf;
    const char *name;
    size_t index;
} ranked;

static int by_confidence(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->conf != y->conf)
        return x->conf < y->conf ? 1 : -1;
    return strcmp(x->name, y->name); /* ties in a fixed order */
}

static int compute(const report_model *m, model_stats *s, cd_err *err)
{
    memset(s, 0, sizeof *s);
    size_t n = m->n;
    s->p = malloc(n * sizeof *s->p);
    s->y = malloc(n * sizeof *s->y);
    ranked *r = malloc(n * sizeof *r);
    if (!s->p || !s->y || !r) {
        free(r);
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory for the report of %zu photos", n);
    }
    for (size_t i = 0; i < n; i++) {
        const report_photo *ph = &m->photos[i];
        int pred = ph->p_dog >= 0.5f, truth = ph->label != 0, ok = pred == truth;
        s->p[i] = ph->p_dog;
        s->y[i] = truth;
        s->cm[truth][pred]++;
        int g = stats_size_group(ph->width, ph->height), o = stats_orientation(ph->width, ph->height);
        s->size_n[g]++;
        s->size_ok[g] += (size_t)ok;
        s->orient_n[o]++;
        s->orient_ok[o] += (size_t)ok;
        if (!ok)
            r[s->errors++] = (ranked){confidence(ph->p_dog), ph->name ? ph->name : ph->path, i};
    }
    qsort(r, s->errors, sizeof *r, by_confidence);
    s->mistakes = malloc((s->errors ? s->errors : 1) * sizeof *s->mistakes);
    if (!s->mistakes) {
        free(r);
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory for the report of %zu photos", n);
    }
    for (size_t i = 0; i < s->errors; i++)
        s->mistakes[i] = r[i].index;
    free(r);
    /* Curves that are undefined (one class only) are left out, not fatal. */
    cd_err cerr;
    if (stats_roc(s->p, s->y, n, &s->roc, &cerr) != 0 && cerr.code == CD_ERR_NOMEM)
        return cd_err_set(err, CD_ERR_NOMEM, "%s", cerr.msg);
    if (stats_pr(s->p, s->y, n, &s->pr, &cerr) != 0 && cerr.code == CD_ERR_NOMEM)
        return cd_err_set(err, CD_ERR_NOMEM, "%s", cerr.msg);
    stats_calibrate(s->p, s->y, n, &s->cal);
    return 0;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

static void put_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.4f", v);
    else
        fputs("&ndash;", f);
}

static const char css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}"
    "h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}"
    "table{border-collapse:collapse;margin:8px 16px 8px 0}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}"
    ".sw{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:middle}"
    ".row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}"
    ".chart text{font:11px system-ui,sans-serif;fill:#333}.chart .ct{font-size:13px;font-weight:600}"
    ".chart .tx,.chart .xl{text-anchor:middle}.chart .ty{text-anchor:end}.chart .yl{text-anchor:middle}"
    ".chart .lg{text-anchor:end}.chart .grid{stroke:#eee}.chart .frame{fill:none;stroke:#999}"
    ".mistakes{display:flex;flex-wrap:wrap;gap:8px}.col{flex:1;min-width:320px}"
    "figure.mistake{margin:0;width:136px;font-size:11px;word-break:break-all}"
    "figure.mistake img{display:block;max-width:128px;max-height:128px;border:3px solid #c33}"
    "td.cm{font-size:16px;min-width:60px}td.ok{background:#e6f4ea}td.bad{background:#fce8e6}"
    ".note{color:#666}";

/* What differs between the ROC and the precision-recall chart: which curve of
 * a model's stats, the titles, the dashed reference line (what guessing
 * gives: ref_y0 at x = 0, ref_y1 at x = 1) and the legend, "<model>:
 * <area_name> <area>", or "<model>: <area_name> undefined (<undefined>)"
 * where a model's curve is undefined. */
typedef struct curve_chart {
    const stats_curve *(*curve)(const model_stats *s);
    const char *title, *xlabel, *ylabel;
    double ref_y0, ref_y1;
    const char *area_name, *undefined;
} curve_chart;

static const stats_curve *roc_of(const model_stats *s) { return &s->roc; }
static const stats_curve *pr_of(const model_stats *s) { return &s->pr; }

/* One curve per model, the first model drawn last (on top). */
static void chart_curves(FILE *f, const report_model *m, const model_stats *s, int n, const curve_chart *cc)
{
    svg_chart c;
    char label[160];
    svg_chart_begin(&c, f, 400, 400, cc->title, cc->xlabel, cc->ylabel);
    const double rx[2] = {0, 1}, ry[2] = {cc->ref_y0, cc->ref_y1};
    svg_chart_line(&c, rx, ry, 2, "#aaa", 1);
    for (int i = n - 1; i >= 0; i--) {
        const stats_curve *k = cc->curve(&s[i]);
        if (k->n)
            svg_chart_line(&c, k->x, k->y, k->n, colors[i], 0);
    }
    for (int i = n - 1; i >= 0; i--) {
        const stats_curve *k = cc->curve(&s[i]);
        if (k->n)
            snprintf(label, sizeof label, "%s: %s %.4f", base_name(m[i].name), cc->area_name, k->area);
        else
            snprintf(label, sizeof label, "%s: %s undefined (%s)", base_name(m[i].name), cc->area_name,
                     cc->undefined);
        svg_chart_legend(&c, colors[i], label);
    }
    svg_chart_end(&c);
}

static void chart_reliability(FILE *f, const report_model *m, const model_stats *s, int n)
{
    svg_chart c;
    static const double diag[2] = {0, 1};
    char label[160];
    svg_chart_begin(&c, f, 400, 400, "Reliability (calibration)", "mean P(dog) in the bin",
                    "fraction of dogs in the bin");
    svg_chart_line(&c, diag, diag, 2, "#aaa", 1);
    for (int i = n - 1; i >= 0; i--) {
        svg_chart_line(&c, s[i].cal.mean_p, s[i].cal.frac_dog, STATS_CAL_BINS, colors[i], 0);
        svg_chart_markers(&c, s[i].cal.mean_p, s[i].cal.frac_dog, STATS_CAL_BINS, 3.5, colors[i]);
    }
    for (int i = n - 1; i >= 0; i--) {
        snprintf(label, sizeof label, "%s: ECE %.4f", base_name(m[i].name), s[i].cal.ece);
        svg_chart_legend(&c, colors[i], label);
    }
    svg_chart_end(&c);
}

static void model_head(FILE *f, const report_model *m, int i)
{
    fprintf(f, "<span class=\"sw\" style=\"background:%s\"></span>", colors[i]);
    svg_escape(f, base_name(m[i].name));
}

static void table_summary(FILE *f, const report_model *m, const model_stats *s, int n)
{
    fputs("<table><tr><th class=\"l\">model</th><th class=\"l\">file and settings</th><th>photos</th>"
          "<th>unreadable</th><th>accuracy</th><th>errors</th><th>ROC AUC</th><th>average precision</th>"
          "<th>ECE</th></tr>\n", f);
    for (int i = 0; i < n; i++) {
        fputs("<tr><td class=\"l\">", f);
        model_head(f, m, i);
        fputs("</td><td class=\"l\">", f);
        svg_escape(f, m[i].name);
        if (m[i].settings) {
            fputs("<br><span class=\"note\">", f);
            svg_escape(f, m[i].settings);
            fputs("</span>", f);
        }
        fprintf(f, "</td><td>%zu</td><td>%zu</td><td>", m[i].n, m[i].unreadable);
        put_num(f, m[i].n ? (double)(m[i].n - s[i].errors) / (double)m[i].n : NAN);
        fprintf(f, "</td><td>%zu</td><td>", s[i].errors);
        put_num(f, s[i].roc.n ? s[i].roc.area : NAN);
        fputs("</td><td>", f);
        put_num(f, s[i].pr.n ? s[i].pr.area : NAN);
        fputs("</td><td>", f);
        put_num(f, s[i].cal.ece);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void table_confusion(FILE *f, const report_model *m, const model_stats *s, int i)
{
    static const char *const cls[2] = {"cat", "dog"};
    fputs("<table class=\"confusion\"><tr><th class=\"l\">", f);
    model_head(f, m, i);
    fputs("</th><th>predicted cat</th><th>predicted dog</th></tr>\n", f);
    for (int t = 0; t < 2; t++) {
        fprintf(f, "<tr><th class=\"l\">true %s</th>", cls[t]);
        for (int p = 0; p < 2; p++)
            fprintf(f, "<td class=\"cm %s\" data-model=\"%d\" data-true=\"%d\" data-pred=\"%d\">%zu</td>",
                    t == p ? "ok" : "bad", i, t, p, s[i].cm[t][p]);
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* Accuracy per group, a pair of columns per model. */
static void table_groups(FILE *f, const report_model *m, const model_stats *s, int n, const char *what,
                         int groups, const char *(*name)(int), int by_size)
{
    fprintf(f, "<table><tr><th class=\"l\">%s</th>", what);
    for (int i = 0; i < n; i++) {
        fputs("<th colspan=\"2\">", f);
        model_head(f, m, i);
        fputs("</th>", f);
    }
    fputs("</tr>\n<tr><th></th>", f);
    for (int i = 0; i < n; i++)
        fputs("<th>photos</th><th>accuracy</th>", f);
    fputs("</tr>\n", f);
    for (int g = 0; g < groups; g++) {
        fputs("<tr><td class=\"l\">", f);
        svg_escape(f, name(g));
        fputs("</td>", f);
        for (int i = 0; i < n; i++) {
            size_t cnt = by_size ? s[i].size_n[g] : s[i].orient_n[g];
            size_t ok = by_size ? s[i].size_ok[g] : s[i].orient_ok[g];
            fprintf(f, "<td class=\"grp\" data-model=\"%d\" data-by=\"%s\" data-group=\"%d\">%zu</td><td>", i,
                    by_size ? "size" : "orientation", g, cnt);
            put_num(f, cnt ? (double)ok / (double)cnt : NAN);
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void table_bins(FILE *f, const report_model *m, const model_stats *s, int n)
{
    fputs("<table><tr><th class=\"l\">P(dog) bin</th>", f);
    for (int i = 0; i < n; i++) {
        fputs("<th colspan=\"3\">", f);
        model_head(f, m, i);
        fputs("</th>", f);
    }
    fputs("</tr>\n<tr><th></th>", f);
    for (int i = 0; i < n; i++)
        fputs("<th>photos</th><th>mean P(dog)</th><th>dogs</th>", f);
    fputs("</tr>\n", f);
    for (int b = 0; b < STATS_CAL_BINS; b++) {
        fprintf(f, "<tr><td class=\"l\">%.1f&ndash;%.1f</td>", (double)b / STATS_CAL_BINS,
                (double)(b + 1) / STATS_CAL_BINS);
        for (int i = 0; i < n; i++) {
            fprintf(f, "<td>%zu</td><td>", s[i].cal.count[b]);
            put_num(f, s[i].cal.mean_p[b]);
            fputs("</td><td>", f);
            put_num(f, s[i].cal.frac_dog[b]);
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void mistakes(FILE *f, const report_model *m, const model_stats *s, int i, const report_opts *o)
{
    size_t shown = s[i].errors < (size_t)o->max_mistakes ? s[i].errors : (size_t)o->max_mistakes;
    fputs("<div class=\"col\"><h3>", f);
    model_head(f, m, i);
    if (shown == s[i].errors)
        fprintf(f, "</h3><p class=\"note\">%zu mistake%s, the most confident first</p>\n", s[i].errors,
                s[i].errors == 1 ? "" : "s");
    else
        fprintf(f, "</h3><p class=\"note\">%zu mistakes; the %zu most confident shown</p>\n", s[i].errors, shown);
    fprintf(f, "<div class=\"mistakes\" data-model=\"%d\">\n", i);
    for (size_t k = 0; k < shown; k++) {
        const report_photo *ph = &m[i].photos[s[i].mistakes[k]];
        const char *name = ph->name ? ph->name : ph->path;
        char *uri = NULL;
        cd_err terr;
        fputs("<figure class=\"mistake\">", f);
        if (report_thumbnail_uri(ph->path, o->thumb_size, o->thumb_quality, &uri, &terr) == 0) {
            fprintf(f, "<img src=\"%s\" alt=\"", uri);
            svg_escape(f, name);
            fputs("\">", f);
        } else {
            fputs("<span class=\"note\">(no thumbnail: ", f);
            svg_escape(f, terr.msg);
            fputs(")</span>", f);
        }
        free(uri);
        fprintf(f, "<figcaption>P(dog) %.4f, is a %s<br>", (double)ph->p_dog, ph->label ? "dog" : "cat");
        svg_escape(f, name);
        fputs("</figcaption></figure>\n", f);
    }
    fputs("</div></div>\n", f);
}

static void page(FILE *f, const report_model *m, const model_stats *s, int n, const report_opts *o)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>", f);
    svg_escape(f, o->title);
    fprintf(f, "</title><style>%s</style></head><body>\n<h1>", css);
    svg_escape(f, o->title);
    fputs("</h1>\n", f);
    if (o->data_dir) {
        fputs("<p>Photos under <code>", f);
        svg_escape(f, o->data_dir);
        fputs("</code> (cats = negative, dogs = positive; predicted dog when P(dog) &ge; 0.5).</p>\n", f);
    }
    table_summary(f, m, s, n);
    fputs("<h2>Curves</h2>\n<div class=\"row\">\n", f);
    /* Guessing: the ROC diagonal; in precision-recall, the share of dogs as
     * the precision at every recall. */
    double share = m[0].n ? (double)(s[0].cm[1][0] + s[0].cm[1][1]) / (double)m[0].n : NAN;
    const curve_chart roc = {roc_of, "ROC curve", "false-positive rate (cats called dogs)",
                             "true-positive rate (dogs found)", 0, 1, "AUC", "one class"};
    const curve_chart pr = {pr_of, "Precision-recall (dog = positive)", "recall", "precision", share, share,
                            "AP", "no dog"};
    chart_curves(f, m, s, n, &roc);
    chart_curves(f, m, s, n, &pr);
    chart_reliability(f, m, s, n);
    fputs("</div>\n<p class=\"note\">ECE: the photos' share-weighted mean of |fraction of dogs &minus; mean "
          "P(dog)| over ten equal-width bins of P(dog).</p>\n", f);
    table_bins(f, m, s, n);
    fputs("<h2>Confusion matrix</h2>\n<div class=\"row\">\n", f);
    for (int i = 0; i < n; i++)
        table_confusion(f, m, s, i);
    fputs("</div>\n<h2>Accuracy by photo size and orientation</h2>\n<p class=\"note\">The original photo's "
          "size, before resizing to the model's input; square = the longer side at most 5 % longer.</p>\n"
          "<div class=\"row\">\n", f);
    table_groups(f, m, s, n, "shorter side", STATS_SIZE_COUNT, stats_size_group_name, 1);
    table_groups(f, m, s, n, "orientation", STATS_ORIENT_COUNT, stats_orientation_name, 0);
    fputs("</div>\n<h2>Most confident mistakes</h2>\n<div class=\"row\">\n", f);
    for (int i = 0; i < n; i++)
        mistakes(f, m, s, i, o);
    fputs("</div>\n<p class=\"note\">Written by catdog evaluate --report.</p>\n</body></html>\n", f);
}

int report_write_html(const char *path, const report_model *models, int n_models, const report_opts *opts,
                      cd_err *err)
{
    if (n_models < 1 || n_models > REPORT_MAX_MODELS)
        return cd_err_set(err, CD_ERR_INVALID, "a report shows 1 to %d models, not %d", REPORT_MAX_MODELS,
                          n_models);
    for (int i = 0; i < n_models; i++)
        if (!models[i].n)
            return cd_err_set(err, CD_ERR_INVALID, "%s: no photo was classified; nothing to report",
                              models[i].name);
    report_opts o = {0};
    if (opts)
        o = *opts;
    if (!o.title)
        o.title = "catdog evaluation";
    if (o.max_mistakes <= 0)
        o.max_mistakes = 24;
    if (o.thumb_size <= 0)
        o.thumb_size = 128;
    if (o.thumb_quality <= 0)
        o.thumb_quality = 70;
    model_stats s[REPORT_MAX_MODELS];
    memset(s, 0, sizeof s);
    int rc = -1;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = NULL;
    for (int i = 0; i < n_models; i++)
        if (compute(&models[i], &s[i], err) != 0)
            goto out;
    if (!(f = open_memstream(&buf, &len))) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory writing the report %s", path);
        goto out;
    }
    page(f, models, s, n_models, &o);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        f = NULL;
        cd_err_set(err, CD_ERR_NOMEM, "out of memory writing the report %s", path);
        goto out;
    }
    f = NULL;
    rc = cd_write_file_atomic(path, buf, len, err);
out:
    if (f)
        fclose(f);
    free(buf);
    for (int i = 0; i < n_models; i++)
        stats_free(&s[i]);
    return rc;
}
