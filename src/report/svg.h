/*
 * svg.h - inline SVG charts for the evaluation report: a unit-square plot
 * (both axes 0..1, as ROC, precision-recall and reliability diagrams are)
 * with a frame, grid, tick labels and axis titles, onto which lines, markers
 * and a legend are drawn.  Everything is written to a FILE as text meant to
 * sit inside an HTML5 page (no XML prolog, no namespace URL, no outside
 * references); colours are CSS colour strings chosen by the caller.  Write errors are left in the
 * FILE's error flag for the caller to check once (ferror) at the end.
 */
#ifndef CATDOG_REPORT_SVG_H
#define CATDOG_REPORT_SVG_H

#include <stddef.h>
#include <stdio.h>

typedef struct svg_chart {
    FILE *out;             /* borrowed */
    int width, height;     /* of the whole picture, px */
    int left, right, top, bottom; /* margins around the plot area, px */
    int legend_rows;       /* legend lines drawn so far */
} svg_chart;

/* Opens <svg> of width x height px with the title (an <title> and a heading
 * line), the frame, a grid every 0.2 and the axis titles.  Strings are
 * escaped here. */
void svg_chart_begin(svg_chart *c, FILE *out, int width, int height, const char *title, const char *xlabel,
                     const char *ylabel);

/* A polyline through the n points (x[i], y[i]) in data units; NAN points are
 * skipped (the line continues over them).  dashed = 1 for a reference line. */
void svg_chart_line(svg_chart *c, const double *x, const double *y, size_t n, const char *color, int dashed);

/* A marker of radius r px at each finite point. */
void svg_chart_markers(svg_chart *c, const double *x, const double *y, size_t n, double r, const char *color);

/* The next legend line (inside the plot, bottom right): a swatch and text. */
void svg_chart_legend(svg_chart *c, const char *color, const char *text);

/* Closes the </svg>. */
void svg_chart_end(svg_chart *c);

/* Writes s with &, <, >, " and ' escaped: safe in HTML and SVG text and in
 * quoted attribute values. */
void svg_escape(FILE *out, const char *s);

#endif
