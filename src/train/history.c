/*
 * history.c - the training history's CSV and SVG (see history.h).
 *
 * The SVG is built by hand: two 440x300 panels with axes, grid lines, tick
 * labels and polylines; scales chosen from the data (loss from 0, accuracy
 * clipped to the range the data spans, rounded to tenths).
 */
#include "train/history.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void history_init(history *h)
{
    h->rows = NULL;
    h->n = h->cap = 0;
}

void history_free(history *h)
{
    free(h->rows);
    history_init(h);
}

int history_append(history *h, const history_row *row, cd_err *err)
{
    if (h->n == h->cap) {
        int cap = h->cap ? h->cap * 2 : 64;
        history_row *r = realloc(h->rows, (size_t)cap * sizeof *r);
        if (!r)
            return cd_err_set(err, CD_ERR_NOMEM, "history: out of memory");
        h->rows = r;
        h->cap = cap;
    }
    h->rows[h->n++] = *row;
    return 0;
}

void history_truncate(history *h, int max_epoch)
{
    int k = 0;
    for (int i = 0; i < h->n; i++)
        if (h->rows[i].epoch <= max_epoch)
            h->rows[k++] = h->rows[i];
    h->n = k;
}

static const char CSV_HEADER[] = "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds";

int history_write_csv(const history *h, const char *path, cd_err *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return cd_err_set(err, CD_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    fprintf(f, "%s\n", CSV_HEADER);
    for (int i = 0; i < h->n; i++) {
        const history_row *r = &h->rows[i];
        fprintf(f, "%d,%.6f,%.6f,%.6f,%.6f,%.6g,%.1f\n", r->epoch, r->loss, r->accuracy, r->val_loss,
                r->val_accuracy, r->lr, r->seconds);
    }
    if (fclose(f) != 0)
        return cd_err_set(err, CD_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

int history_read_csv(history *h, const char *path, cd_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return cd_err_set(err, errno == ENOENT ? CD_ERR_NOTFOUND : CD_ERR_IO, "cannot read %s: %s", path,
                          strerror(errno));
    char line[512];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (lineno == 1) {
            if (strncmp(line, CSV_HEADER, sizeof CSV_HEADER - 1) != 0) {
                rc = cd_err_set(err, CD_ERR_FORMAT, "%s: not a catdog history (header '%s' expected)", path,
                                CSV_HEADER);
                break;
            }
            continue;
        }
        if (line[0] == '\n' || line[0] == 0)
            continue;
        history_row r;
        if (sscanf(line, "%d,%lf,%lf,%lf,%lf,%lf,%lf", &r.epoch, &r.loss, &r.accuracy, &r.val_loss,
                   &r.val_accuracy, &r.lr, &r.seconds) != 7) {
            rc = cd_err_set(err, CD_ERR_FORMAT, "%s:%d: malformed history line", path, lineno);
            break;
        }
        if ((rc = history_append(h, &r, err)) < 0)
            break;
    }
    fclose(f);
    return rc;
}

/* ---- SVG ---- */

#define PW 440   /* panel width */
#define PH 300   /* panel height */
#define ML 56    /* margins inside a panel */
#define MR 16
#define MT 34
#define MB 44

typedef struct axis {
    double lo, hi, step;
} axis;

/* A "nice" step (1, 2, 5 x 10^k) giving about `ticks` intervals over [lo, hi]. */
static double nice_step(double span, int ticks)
{
    if (!(span > 0))
        return 1.0;
    double raw = span / ticks;
    double mag = pow(10.0, floor(log10(raw)));
    double f = raw / mag;
    double nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * mag;
}

static axis make_axis(double lo, double hi, int ticks)
{
    axis a;
    if (!(hi > lo))
        hi = lo + 1.0;
    a.step = nice_step(hi - lo, ticks);
    a.lo = floor(lo / a.step) * a.step;
    a.hi = ceil(hi / a.step) * a.step;
    if (a.hi <= a.lo)
        a.hi = a.lo + a.step;
    return a;
}

static void xml_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

typedef double (*row_get)(const history_row *r);
static double get_loss(const history_row *r) { return r->loss; }
static double get_val_loss(const history_row *r) { return r->val_loss; }
static double get_acc(const history_row *r) { return r->accuracy; }
static double get_val_acc(const history_row *r) { return r->val_accuracy; }

static void panel(FILE *f, const history *h, int ox, const char *title, row_get a, row_get b, int is_acc)
{
    double lo = HUGE_VAL, hi = -HUGE_VAL;
    for (int i = 0; i < h->n; i++) {
        double v[2] = {a(&h->rows[i]), b(&h->rows[i])};
        for (int k = 0; k < 2; k++)
            if (isfinite(v[k])) {
                lo = fmin(lo, v[k]);
                hi = fmax(hi, v[k]);
            }
    }
    if (!isfinite(lo)) {
        lo = 0;
        hi = 1;
    }
    if (!is_acc)
        lo = 0; /* loss from zero: the size of a drop reads right */
    else {
        lo = fmax(0.0, lo);
        hi = fmin(1.0, hi);
    }
    axis ya = make_axis(lo, hi, 5);
    int n_ep = h->n > 0 ? h->rows[h->n - 1].epoch : 1;
    int first = h->n > 0 ? h->rows[0].epoch : 1;
    axis xa = make_axis(first > 1 ? first - 1 : 0, n_ep > first ? n_ep : first + 1, 6);
    if (xa.step < 1)
        xa.step = 1;
    const double x0 = ox + ML, x1 = ox + PW - MR, y0 = PH - MB, y1 = MT;
#define SX(v) (x0 + ((v) - xa.lo) / (xa.hi - xa.lo) * (x1 - x0))
#define SY(v) (y0 - ((v) - ya.lo) / (ya.hi - ya.lo) * (y0 - y1))
    fprintf(f, "<text x=\"%d\" y=\"22\" font-size=\"15\" font-weight=\"bold\">%s</text>\n", ox + ML, title);
    for (double t = ya.lo; t <= ya.hi + ya.step * 0.01; t += ya.step) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x0, SY(t), x1, SY(t));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.*f</text>\n", x0 - 6,
                SY(t) + 4, ya.step < 0.1 ? 2 : 1, t);
    }
    for (double t = xa.lo; t <= xa.hi + xa.step * 0.01; t += xa.step) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", SX(t), y0, SX(t), y1);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%.0f</text>\n", SX(t),
                y0 + 16, t);
    }
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n", x0,
            y1, x1 - x0, y0 - y1);
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">epoch</text>\n", (x0 + x1) / 2,
            PH - 10);
    const char *colors[2] = {"#1f77b4", "#d62728"};
    row_get gets[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colors[k]);
        for (int i = 0; i < h->n; i++) {
            double v = gets[k](&h->rows[i]);
            if (isfinite(v))
                fprintf(f, "%.1f,%.1f ", SX(h->rows[i].epoch), SY(fmin(fmax(v, ya.lo), ya.hi)));
        }
        fputs("\"/>\n", f);
        for (int i = 0; i < h->n; i++) {
            double v = gets[k](&h->rows[i]);
            if (isfinite(v))
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", SX(h->rows[i].epoch),
                        SY(fmin(fmax(v, ya.lo), ya.hi)), colors[k]);
        }
        /* legend above the frame, right-aligned, so it never hides a curve */
        double lx = x1 - 190 + 95 * k, ly = 22;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n",
                lx, ly - 4, lx + 20, ly - 4, colors[k]);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">%s</text>\n", lx + 25, ly,
                k == 0 ? "training" : "validation");
    }
#undef SX
#undef SY
}

int history_write_svg(const history *h, const char *path, const char *title, cd_err *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return cd_err_set(err, CD_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    const int W = 2 * PW, H = PH + 30;
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W, H, W, H);
    fputs("<title>", f);
    xml_escape(f, title ? title : "training history");
    fputs("</title>\n<g transform=\"translate(0,30)\">\n", f);
    panel(f, h, 0, "loss", get_loss, get_val_loss, 0);
    panel(f, h, PW, "accuracy", get_acc, get_val_acc, 1);
    fputs("</g>\n<text x=\"12\" y=\"20\" font-size=\"14\">", f);
    xml_escape(f, title ? title : "training history");
    fputs("</text>\n</svg>\n", f);
    if (fclose(f) != 0)
        return cd_err_set(err, CD_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    return 0;
}
