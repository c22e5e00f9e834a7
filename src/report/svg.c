/*
 * svg.c - the report's chart drawing (see svg.h).
 *
 * Coordinates are rounded to 0.1 px and a point that lands where the previous
 * one did is dropped, so a ROC curve over thousands of photos stays a few
 * kilobytes without visibly changing.
 */
#include "report/svg.h"

#include <math.h>

void svg_escape(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*s, out);
        }
    }
}

static double px_x(const svg_chart *c, double x)
{
    return c->left + x * (c->width - c->left - c->right);
}

static double px_y(const svg_chart *c, double y)
{
    return c->height - c->bottom - y * (c->height - c->top - c->bottom);
}

void svg_chart_begin(svg_chart *c, FILE *out, int width, int height, const char *title, const char *xlabel,
                     const char *ylabel)
{
    c->out = out;
    c->width = width;
    c->height = height;
    c->left = 52;
    c->right = 14;
    c->top = 30;
    c->bottom = 44;
    c->legend_rows = 0;
    fprintf(out, "<svg class=\"chart\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\" role=\"img\"><title>", width, height, width, height);
    svg_escape(out, title);
    fprintf(out, "</title>\n<text x=\"%d\" y=\"18\" class=\"ct\">", c->left);
    svg_escape(out, title);
    fputs("</text>\n", out);
    /* Grid and tick labels every 0.2. */
    for (int i = 0; i <= 5; i++) {
        double v = i / 5.0, gx = px_x(c, v), gy = px_y(c, v);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
                     "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>\n",
                gx, px_y(c, 0), gx, px_y(c, 1), px_x(c, 0), gy, px_x(c, 1), gy);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" class=\"tx\">%.1f</text>"
                     "<text x=\"%.1f\" y=\"%.1f\" class=\"ty\">%.1f</text>\n",
                gx, px_y(c, 0) + 15, v, px_x(c, 0) - 5, gy + 4, v);
    }
    fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"frame\"/>\n", px_x(c, 0),
            px_y(c, 1), px_x(c, 1) - px_x(c, 0), px_y(c, 0) - px_y(c, 1));
    fprintf(out, "<text x=\"%.1f\" y=\"%d\" class=\"xl\">", (px_x(c, 0) + px_x(c, 1)) / 2, height - 8);
    svg_escape(out, xlabel);
    fprintf(out, "</text><text transform=\"translate(14 %.1f) rotate(-90)\" class=\"yl\">",
            (px_y(c, 0) + px_y(c, 1)) / 2);
    svg_escape(out, ylabel);
    fputs("</text>\n", out);
}

void svg_chart_line(svg_chart *c, const double *x, const double *y, size_t n, const char *color, int dashed)
{
    fprintf(c->out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s points=\"", color,
            dashed ? "1" : "2", dashed ? " stroke-dasharray=\"4 4\"" : "");
    double lx = NAN, ly = NAN;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i]))
            continue;
        double px = round(px_x(c, x[i]) * 10) / 10, py = round(px_y(c, y[i]) * 10) / 10;
        if (px == lx && py == ly && i + 1 < n)
            continue;
        fprintf(c->out, "%.1f,%.1f ", px, py);
        lx = px;
        ly = py;
    }
    fputs("\"/>\n", c->out);
}

void svg_chart_markers(svg_chart *c, const double *x, const double *y, size_t n, double r, const char *color)
{
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i]))
            fprintf(c->out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"/>", px_x(c, x[i]),
                    px_y(c, y[i]), r, color);
    fputc('\n', c->out);
}

void svg_chart_legend(svg_chart *c, const char *color, const char *text)
{
    /* Rows stack upwards from the plot's bottom-right corner, where ROC, PR
     * and reliability curves leave room (they hug the top or the diagonal). */
    double x = px_x(c, 1) - 8, y = px_y(c, 0) - 10 - 16.0 * c->legend_rows;
    fprintf(c->out, "<text x=\"%.1f\" y=\"%.1f\" class=\"lg\">", x - 22, y + 4);
    svg_escape(c->out, text);
    fprintf(c->out, "</text><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                    "stroke-width=\"3\"/>\n", x - 16, y, x, y, color);
    c->legend_rows++;
}

void svg_chart_end(svg_chart *c)
{
    fputs("</svg>\n", c->out);
}
